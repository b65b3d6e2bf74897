// Every tenant's subscriptions whose circuit is open or half open, with their owner: where an
// operator looks first when receivers are in trouble across the instance.
import { ownerOf, useOpenCircuits } from '../../api'
import { Badge, Card, EmptyState, ErrorMessage, Loading, Url } from '../../components/ui'
import { formatTime } from '../../lib/format'

export function CircuitsPage() {
  const circuits = useOpenCircuits()
  return (
    <Card title="Open circuits">
      {circuits.error ? (
        <ErrorMessage error={circuits.error} title="Could not load open circuits" />
      ) : circuits.isPending || !circuits.data ? (
        <Loading label="Loading open circuits…" />
      ) : circuits.data.length === 0 ? (
        <EmptyState title="No open circuits.">Every subscription’s receiver is answering.</EmptyState>
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full text-left text-sm" aria-label="Open circuits">
            <thead>
              <tr className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                <th className="py-1.5 pr-3 font-medium">Subscription</th>
                <th className="py-1.5 pr-3 font-medium">Owner</th>
                <th className="py-1.5 pr-3 font-medium">Circuit</th>
                <th className="py-1.5 pr-3 font-medium">Target URL</th>
                <th className="py-1.5 font-medium">Updated</th>
              </tr>
            </thead>
            <tbody>
              {circuits.data.map((s) => (
                <tr key={s.id} className="border-b border-slate-100">
                  <td className="py-1.5 pr-3 font-medium">{s.name}</td>
                  <td className="py-1.5 pr-3 break-all">{ownerOf(s)}</td>
                  <td className="py-1.5 pr-3">
                    <Badge value={s.circuit_state} />
                    {!s.is_active && <Badge value="disabled" className="ml-1" />}
                  </td>
                  <td className="py-1.5 pr-3">
                    <Url url={s.target_url} />
                  </td>
                  <td className="py-1.5 whitespace-nowrap text-slate-600">{formatTime(s.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  )
}
