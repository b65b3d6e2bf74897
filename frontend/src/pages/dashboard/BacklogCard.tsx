// The user's own backlog by status: how many deliveries wait (pending, retrying), are kept
// while a subscription is not active (held) or ran out of attempts (dead), in total and per
// subscription.
import { Link } from 'react-router-dom'
import { BACKLOG_PAGE, BACKLOG_STATUSES, backlogOf, formatCount, type BacklogRow, type BacklogStatus, type Count, type Subscription, type SubscriptionStats } from '../../api'
import { Card, ErrorMessage, Loading } from '../../components/ui'

const LABELS: Record<BacklogStatus, string> = {
  pending: 'Pending',
  retrying: 'Retrying',
  held: 'Held',
  dead: 'Dead',
}

const HINTS: Record<BacklogStatus, string> = {
  pending: 'waiting for their first attempt',
  retrying: 'failed, waiting to be tried again',
  held: 'kept while a subscription is paused or disabled',
  dead: 'ran out of attempts (dead letters)',
}

/** A row has a backlog when any status has something in it (or is still unknown). */
const hasBacklog = (row: BacklogRow) => BACKLOG_STATUSES.some((status) => row[status]?.count !== 0)

/** The backlog of `subscriptions` from the dashboard's stats call (`stats`: undefined while it loads). */
export function BacklogCard({ subscriptions, stats, error }: { subscriptions: Subscription[]; stats: SubscriptionStats[] | undefined; error: unknown }) {
  const isPending = !stats && !error
  const backlog = { ...backlogOf(subscriptions, stats ?? []), isPending, error }
  const rows = backlog.rows.filter(hasBacklog)
  return (
    <Card title="Backlog">
      <ErrorMessage error={backlog.error} title="Some counts could not be loaded" />
      <dl className="grid grid-cols-2 gap-3 md:grid-cols-4" aria-label="Backlog by status">
        {BACKLOG_STATUSES.map((status) => (
          <div key={status} className="rounded-lg border border-slate-200 p-3">
            <dt className="text-xs uppercase tracking-wide text-slate-500">{LABELS[status]}</dt>
            <dd className="mt-1 text-xl font-semibold tabular-nums" data-backlog={status}>
              {backlog.isPending ? '…' : formatCount(backlog.totals[status])}
            </dd>
            <dd className="text-xs text-slate-500">{HINTS[status]}</dd>
          </div>
        ))}
      </dl>
      {backlog.isPending ? (
        <Loading label="Counting deliveries…" />
      ) : rows.length === 0 ? (
        <p className="mt-3 text-sm text-emerald-700">Nothing waiting: every delivery has been made.</p>
      ) : (
        <BacklogTable rows={rows} />
      )}
      <p className="mt-2 text-xs text-slate-500">Counts stop at {BACKLOG_PAGE} per subscription and status (shown as {BACKLOG_PAGE}+).</p>
    </Card>
  )
}

function BacklogTable({ rows }: { rows: BacklogRow[] }) {
  return (
    <div className="mt-3 overflow-x-auto">
      <table className="w-full text-left text-sm">
        <thead>
          <tr className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
            <th className="py-1.5 pr-3 font-medium">Subscription</th>
            {BACKLOG_STATUSES.map((status) => (
              <th key={status} className="py-1.5 pr-3 text-right font-medium">
                {LABELS[status]}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.subscription.id} className="border-b border-slate-100">
              <td className="py-1.5 pr-3">
                <Link to={`/subscriptions/${row.subscription.id}`} className="font-medium text-teal-800 hover:underline">
                  {row.subscription.name}
                </Link>
              </td>
              {BACKLOG_STATUSES.map((status) => (
                <td key={status} className="py-1.5 pr-3 text-right tabular-nums">
                  <CountCell count={row[status]} dead={status === 'dead' ? row.subscription : undefined} />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** A count; a subscription's dead count links to its dead letters. */
function CountCell({ count, dead }: { count: Count | undefined; dead?: Subscription }) {
  if (!count) return <span className="text-slate-400">—</span>
  const text = formatCount(count)
  if (!dead || count.count === 0) return <>{text}</>
  return (
    <Link to={`/dead-letters?subscription_id=${dead.id}`} aria-label={`${text} dead letters of ${dead.name}`} className="text-teal-800 hover:underline">
      {text}
    </Link>
  )
}
