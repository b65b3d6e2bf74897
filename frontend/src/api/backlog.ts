// A user's own backlog by status: what waits to be delivered (pending, retrying), what is
// kept while a subscription is not active (held) and what ran out of attempts (dead). The
// broker's queues are every tenant's and only operators see them; this comes with the
// dashboard's one stats call (`GET /stats`), which counts each subscription's deliveries by
// status up to 200 ("200 or more" past that).
import { BACKLOG_STATUSES, type BacklogStatus, type Count, type Subscription, type SubscriptionStats } from './types'

/** Where the server stops counting. */
export const BACKLOG_PAGE = 200

export type BacklogRow = { subscription: Subscription } & Record<BacklogStatus, Count | undefined>

/** Adds counts up; the sum is "or more" when any part is. */
export function addCounts(counts: (Count | undefined)[]): Count {
  return counts.reduce<Count>((sum, c) => ({ count: sum.count + (c?.count ?? 0), more: sum.more || Boolean(c?.more) }), { count: 0, more: false })
}

/** "12", or "200+" when there are more. */
export function formatCount({ count, more }: Count): string {
  return more ? `${count}+` : String(count)
}

/** Each subscription's backlog by status (from its entry of `GET /stats`), and the totals. */
export function backlogOf(subscriptions: Subscription[], stats: SubscriptionStats[]) {
  const byId = new Map(stats.map((s) => [s.subscription_id, s.backlog]))
  const rows: BacklogRow[] = subscriptions.map((s) => {
    const backlog = byId.get(s.id)
    const counts = Object.fromEntries(BACKLOG_STATUSES.map((status) => [status, backlog?.[status]])) as Record<BacklogStatus, Count | undefined>
    return { subscription: s, ...counts }
  })
  const totals = Object.fromEntries(BACKLOG_STATUSES.map((status) => [status, addCounts(rows.map((r) => r[status]))])) as Record<BacklogStatus, Count>
  return { rows, totals }
}
