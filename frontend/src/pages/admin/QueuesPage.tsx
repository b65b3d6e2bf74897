// The broker's queues: depth and consumers of each Warren queue, deliver first, then the wait
// tiers, then the graveyard, with the backlog per wait tier. Every tenant's messages are in
// them together, which is why only the operator sees them (it moved here from the dashboard).
import { useQueues } from '../../api'
import { Card, EmptyState, ErrorMessage, Loading } from '../../components/ui'
import { sortQueues, tierLabel } from '../dashboard/aggregate'
import { BacklogChart } from '../dashboard/Charts'

export function QueuesPage() {
  const queues = useQueues()
  const consoleUrl = `http://${globalThis.location?.hostname || 'localhost'}:15672/#/queues`
  const sorted = sortQueues(queues.data ?? [])
  const retry = sorted.filter((q) => q.kind === 'retry')
  return (
    <Card
      title="Queues"
      actions={
        <a href={consoleUrl} target="_blank" rel="noreferrer" className="text-sm text-teal-800 hover:underline">
          RabbitMQ console
        </a>
      }
    >
      {queues.isPending ? (
        <Loading label="Loading queues…" />
      ) : queues.isError ? (
        <ErrorMessage error={queues.error} title="Could not load queues" />
      ) : sorted.length === 0 ? (
        <EmptyState title="No queues reported." />
      ) : (
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                  <th className="py-1.5 pr-3 font-medium">Queue</th>
                  <th className="hidden py-1.5 pr-3 font-medium sm:table-cell">Kind</th>
                  <th className="py-1.5 pr-3 text-right font-medium">Messages</th>
                  <th className="hidden py-1.5 pr-3 text-right font-medium sm:table-cell">Unacked</th>
                  <th className="py-1.5 text-right font-medium">Consumers</th>
                </tr>
              </thead>
              <tbody>
                {sorted.map((q) => (
                  <tr key={q.name} className="border-b border-slate-100">
                    <td className="py-1.5 pr-3 font-mono text-xs whitespace-nowrap">{q.name}</td>
                    <td className="hidden py-1.5 pr-3 sm:table-cell">{tierLabel(q)}</td>
                    <td className="py-1.5 pr-3 text-right tabular-nums">{q.messages}</td>
                    <td className="hidden py-1.5 pr-3 text-right tabular-nums sm:table-cell">{q.messages_unacked ?? '—'}</td>
                    <td className="py-1.5 text-right tabular-nums">{q.consumers}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div>
            <h3 className="mb-1 text-sm font-medium text-slate-700">Backlog per wait tier</h3>
            {retry.length ? (
              <BacklogChart rows={retry.map((q) => ({ tier: tierLabel(q), messages: q.messages, unacked: q.messages_unacked ?? 0 }))} />
            ) : (
              <EmptyState title="No wait tiers reported." />
            )}
          </div>
        </div>
      )}
    </Card>
  )
}
