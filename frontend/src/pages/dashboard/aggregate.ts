// Pure functions behind the dashboard: merging every subscription's stats into one series,
// spotting subscriptions in trouble, and ordering queues by wait tier.
import type { QueueInfo, Stats, StatsWindow, Subscription } from '../../api'

export interface MergedPoint {
  t: string
  succeeded: number
  failed: number
  perMinute: number
  /** Percent 0..100; null when nothing was attempted in the bucket. */
  successRate: number | null
  p50?: number
  p95?: number
  p99?: number
}

/** The window's series as the API sends it: bucket width in minutes, and how many buckets. */
export const WINDOW_BUCKETS: Record<StatsWindow, { minutes: number; count: number }> = {
  '1h': { minutes: 1, count: 60 },
  '24h': { minutes: 15, count: 96 },
  '7d': { minutes: 60, count: 168 },
}

type Sums = { succeeded: number; failed: number; lat: Record<'p50' | 'p95' | 'p99', [number, number]> }

const emptySums = (): Sums => ({ succeeded: 0, failed: 0, lat: { p50: [0, 0], p95: [0, 0], p99: [0, 0] } })

/**
 * Every bucket start of the window: the series' own times, and the buckets in between and up
 * to now that it left out, so a chart spans the whole window whatever the server sent.
 */
export function windowTimes(seen: number[], window: StatsWindow, now = Date.now()): number[] {
  const width = WINDOW_BUCKETS[window].minutes * 60_000
  const last = Math.max(Math.floor(now / width) * width, ...seen)
  const times = new Set(seen)
  for (let i = 0; i < WINDOW_BUCKETS[window].count; i++) times.add(last - i * width)
  return [...times].sort((a, b) => a - b)
}

/**
 * One point per bucket of the window summed over subscriptions, zeros where nothing happened.
 * Latency percentiles (when the server sends them per bucket) are averaged weighted by each
 * subscription's attempts in the bucket.
 */
export function mergeSeries(stats: Stats[], window: StatsWindow, now = Date.now()): { points: MergedPoint[]; hasLatencySeries: boolean } {
  const byTime = new Map<number, Sums>()
  let hasLatencySeries = false
  for (const s of stats) {
    for (const p of s.series ?? []) {
      const t = new Date(p.t).getTime()
      if (Number.isNaN(t)) continue
      const acc = byTime.get(t) ?? emptySums()
      acc.succeeded += p.succeeded ?? 0
      acc.failed += p.failed ?? 0
      const weight = (p.succeeded ?? 0) + (p.failed ?? 0) || 1
      for (const k of ['p50', 'p95', 'p99'] as const) {
        const v = p[k]
        if (typeof v === 'number') {
          hasLatencySeries = true
          acc.lat[k][0] += v * weight
          acc.lat[k][1] += weight
        }
      }
      byTime.set(t, acc)
    }
  }
  if (byTime.size === 0) return { points: [], hasLatencySeries }
  const minutes = WINDOW_BUCKETS[window].minutes
  const points = windowTimes([...byTime.keys()], window, now).map((t) => toPoint(t, byTime.get(t) ?? emptySums(), minutes))
  return { points, hasLatencySeries }
}

function toPoint(t: number, { succeeded, failed, lat }: Sums, minutes: number): MergedPoint {
  const total = succeeded + failed
  const point: MergedPoint = {
    t: new Date(t).toISOString(),
    succeeded,
    failed,
    perMinute: Math.round((total / minutes) * 100) / 100,
    successRate: total ? Math.round((succeeded / total) * 1000) / 10 : null,
  }
  for (const k of ['p50', 'p95', 'p99'] as const) {
    if (lat[k][1] > 0) point[k] = Math.round(lat[k][0] / lat[k][1])
  }
  return point
}

/** The success rate (percent) over every point, null when nothing was attempted. */
export function overallSuccessRate(points: MergedPoint[]): number | null {
  const succeeded = points.reduce((n, p) => n + p.succeeded, 0)
  const total = points.reduce((n, p) => n + p.succeeded + p.failed, 0)
  return total ? Math.round((succeeded / total) * 1000) / 10 : null
}

export interface Totals {
  total: number
  succeeded: number
  failed: number
  dead: number
  successRate: number | null
  /** Attempts that timed out, as a fraction of all attempts (null when there were none). */
  timeoutRate: number | null
  p95: number | null
}

/** The window's totals over every subscription; p95 is the worst subscription's. */
export function totals(stats: Stats[]): Totals {
  const sum = (f: (s: Stats) => number) => stats.reduce((n, s) => n + (f(s) || 0), 0)
  const succeeded = sum((s) => s.succeeded)
  const failed = sum((s) => s.failed)
  // An idle subscription reports 0 ms: only the ones that made attempts count.
  const p95s = stats
    .filter((s) => s.total > 0)
    .map((s) => s.latency_ms?.p95)
    .filter((v): v is number => typeof v === 'number')
  return {
    total: sum((s) => s.total),
    succeeded,
    failed,
    dead: sum((s) => s.dead),
    successRate: succeeded + failed ? succeeded / (succeeded + failed) : null,
    timeoutRate: succeeded + failed ? sum((s) => s.timeouts ?? 0) / (succeeded + failed) : null,
    p95: p95s.length ? Math.max(...p95s) : null,
  }
}

export interface Trouble {
  subscription: Subscription
  reasons: string[]
}

/** Subscriptions whose circuit is not closed, that are disabled, or that are failing. */
export function troubled(subscriptions: Subscription[], statsById: Map<string, Stats | undefined>): Trouble[] {
  const out: Trouble[] = []
  for (const subscription of subscriptions) {
    const reasons: string[] = []
    if (!subscription.is_active) {
      reasons.push(subscription.disabled_reason === 'paused' ? 'Paused' : `Disabled${subscription.disabled_reason ? `: ${subscription.disabled_reason}` : ''}`)
    }
    const held = subscription.held_count ?? 0
    if (held > 0) reasons.push(subscription.is_active ? `Releasing ${held} held` : `${held} held`)
    if (subscription.circuit_state === 'open') reasons.push('Circuit open')
    if (subscription.circuit_state === 'half_open') reasons.push('Circuit half open')
    const stats = statsById.get(subscription.id)
    if (stats) {
      if (stats.dead > 0) reasons.push(`${stats.dead} dead`)
      if (stats.failed > 0 && (stats.success_rate ?? 1) < 0.9) {
        reasons.push(`Failing: ${Math.round((stats.success_rate ?? 0) * 100)}% succeeded`)
      }
    }
    if (reasons.length) out.push({ subscription, reasons })
  }
  return out
}

/** "warren.retry.2m" → 120 (seconds); NaN when the name has no tier. */
export function tierSeconds(name: string): number {
  const m = /(\d+)\s*(ms|s|m|h|d)$/.exec(name)
  if (!m) return NaN
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd']
  return Number(m[1]) * unit
}

const KIND_ORDER = { deliver: 0, retry: 1, ordered: 2, graveyard: 3 } as const

/** Deliver first, then retry tiers from the shortest wait, then the FIFO shards, then the graveyard. */
export function sortQueues(queues: QueueInfo[]): QueueInfo[] {
  return [...queues].sort((a, b) => {
    const kind = (KIND_ORDER[a.kind] ?? 4) - (KIND_ORDER[b.kind] ?? 4)
    if (kind !== 0) return kind
    const ta = tierSeconds(a.tier ?? a.name)
    const tb = tierSeconds(b.tier ?? b.name)
    if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb
    return a.name.localeCompare(b.name)
  })
}

/** The wait tier's short name: "warren.retry.30s" → "30s". */
export function tierLabel(q: QueueInfo): string {
  if (q.kind !== 'retry') return q.kind
  if (q.tier) return q.tier
  const parts = q.name.split('.')
  return parts[parts.length - 1] || q.name
}
