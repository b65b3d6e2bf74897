// A user's own backlog by status: what waits to be delivered (pending, retrying), what is
// kept while a subscription is not active (held) and what ran out of attempts (dead). The
// broker's queues are every tenant's and only operators see them; this is built from the
// user's own lists instead: each subscription's `held_count`, and the first page (200) of
// its pending, retrying and dead deliveries, counted. A full page means "200 or more".
import { useQueries } from '@tanstack/react-query'
import { api } from './client'
import { keys } from './keys'
import type { DeliverySummary, Page, Subscription } from './types'

/** The largest page the API gives: the cap of every count here. */
export const BACKLOG_PAGE = 200

/** How often the counts are read again. */
export const BACKLOG_REFRESH_MS = 15_000

export const BACKLOG_STATUSES = ['pending', 'retrying', 'held', 'dead'] as const
export type BacklogStatus = (typeof BACKLOG_STATUSES)[number]

/** A count, and whether there are more than it says (the list had another page). */
export interface Count {
  count: number
  more: boolean
}

export type BacklogRow = { subscription: Subscription } & Record<BacklogStatus, Count | undefined>

/** Where a status's rows are listed: dead letters have their own list (discarded ones left out). */
function listOf(id: string, status: BacklogStatus): [string, Record<string, string | number>] {
  return status === 'dead'
    ? ['/dead-letters', { subscription_id: id, limit: BACKLOG_PAGE }]
    : [`/subscriptions/${id}/deliveries`, { status, limit: BACKLOG_PAGE }]
}

async function countOf(id: string, status: BacklogStatus): Promise<Count> {
  const [path, query] = listOf(id, status)
  const page = await api<Page<DeliverySummary>>(path, { query })
  return { count: page.data.length, more: Boolean(page.next_cursor) }
}

/** The statuses that need a list read: `held` is on the subscription itself when the server says. */
function statusesToRead(s: Subscription): BacklogStatus[] {
  return BACKLOG_STATUSES.filter((status) => status !== 'held' || typeof s.held_count !== 'number')
}

/** Adds counts up; the sum is "or more" when any part is. */
export function addCounts(counts: (Count | undefined)[]): Count {
  return counts.reduce<Count>((sum, c) => ({ count: sum.count + (c?.count ?? 0), more: sum.more || Boolean(c?.more) }), { count: 0, more: false })
}

/** "12", or "200+" when there are more. */
export function formatCount({ count, more }: Count): string {
  return more ? `${count}+` : String(count)
}

/** Each subscription's backlog by status, and the totals over them. */
export function useBacklog(subscriptions: Subscription[]) {
  const reads = subscriptions.flatMap((s) => statusesToRead(s).map((status) => ({ id: s.id, status })))
  const results = useQueries({
    queries: reads.map(({ id, status }) => ({
      queryKey: keys.backlog(id, status),
      queryFn: () => countOf(id, status),
      refetchInterval: BACKLOG_REFRESH_MS,
    })),
  })
  const read = new Map(reads.map(({ id, status }, i) => [`${id} ${status}`, results[i]?.data]))
  const rows: BacklogRow[] = subscriptions.map((s) => {
    const counts = Object.fromEntries(
      BACKLOG_STATUSES.map((status) => [
        status,
        status === 'held' && typeof s.held_count === 'number' ? { count: s.held_count, more: false } : read.get(`${s.id} ${status}`),
      ]),
    ) as Record<BacklogStatus, Count | undefined>
    return { subscription: s, ...counts }
  })
  const totals = Object.fromEntries(BACKLOG_STATUSES.map((status) => [status, addCounts(rows.map((r) => r[status]))])) as Record<BacklogStatus, Count>
  return {
    rows,
    totals,
    isPending: results.some((r) => r.isPending),
    error: results.find((r) => r.error)?.error ?? null,
  }
}
