import { describe, expect, it } from 'vitest'
import type { QueueInfo, Stats, Subscription } from '../../api'
import { mergeSeries, overallSuccessRate, sortQueues, tierSeconds, totals, troubled } from './aggregate'

const stats = (over: Partial<Stats>): Stats => ({
  window: '1h',
  total: 0,
  succeeded: 0,
  failed: 0,
  dead: 0,
  success_rate: null,
  latency_ms: { avg: null, p50: null, p95: null, p99: null },
  series: [],
  ...over,
})

const sub = (over: Partial<Subscription>): Subscription => ({
  id: 'id',
  name: 'n',
  target_url: 'https://x',
  source_id: null,
  event_types: [],
  timeout_ms: 10000,
  max_attempts: 8,
  rate_limit_per_sec: 100,
  payload_template: null,
  headers: {},
  ordering: 'none',
  on_dead: 'skip',
  signing_secret: 'whsec_x',
  is_active: true,
  disabled_reason: null,
  circuit_state: 'closed',
  created_at: '',
  updated_at: '',
  ...over,
})

describe('mergeSeries', () => {
  it('sums subscriptions per bucket and turns counts into a per-minute rate and a success rate', () => {
    const a = stats({ series: [{ t: '2025-01-01T00:00:00Z', succeeded: 3, failed: 1 }, { t: '2025-01-01T00:05:00Z', succeeded: 10, failed: 0 }] })
    const b = stats({ series: [{ t: '2025-01-01T00:00:00Z', succeeded: 0, failed: 6 }] })

    const { points, hasLatencySeries } = mergeSeries([a, b], '1h', Date.parse('2025-01-01T00:05:30Z'))

    expect(hasLatencySeries).toBe(false)
    const at = (iso: string) => points.find((p) => p.t === iso)
    expect(at('2025-01-01T00:00:00.000Z')).toEqual({ t: '2025-01-01T00:00:00.000Z', succeeded: 3, failed: 7, perMinute: 10, successRate: 30 })
    expect(at('2025-01-01T00:05:00.000Z')).toEqual({ t: '2025-01-01T00:05:00.000Z', succeeded: 10, failed: 0, perMinute: 10, successRate: 100 })
    // The minutes between, with nothing attempted: zeros, and no success rate.
    expect(at('2025-01-01T00:03:00.000Z')).toEqual({ t: '2025-01-01T00:03:00.000Z', succeeded: 0, failed: 0, perMinute: 0, successRate: null })
  })

  it.each([
    ['1h', 60, 60_000],
    ['24h', 96, 15 * 60_000],
    ['7d', 168, 3_600_000],
  ] as const)('fills a sparse %s series to every bucket of the window, up to now', (window, count, width) => {
    const now = Date.parse('2025-01-08T12:34:56Z')
    const last = Math.floor(now / width) * width
    const lone = new Date(last - 10 * width).toISOString()
    const { points } = mergeSeries([stats({ series: [{ t: lone, succeeded: 1, failed: 0 }] })], window, now)

    expect(points).toHaveLength(count)
    expect(points[points.length - 1].t).toBe(new Date(last).toISOString())
    expect(points[0].t).toBe(new Date(last - (count - 1) * width).toISOString())
    expect(points.filter((p) => p.successRate !== null)).toEqual([expect.objectContaining({ t: lone, successRate: 100 })])
    // Evenly spaced, one bucket apart.
    expect(new Set(points.slice(1).map((p, i) => Date.parse(p.t) - Date.parse(points[i].t)))).toEqual(new Set([width]))
  })

  it('keeps the server’s full series as it is, and has no points when there is no series', () => {
    const now = Date.parse('2025-01-01T01:00:30Z')
    const series = Array.from({ length: 60 }, (_, i) => ({ t: new Date(Date.parse('2025-01-01T00:01:00Z') + i * 60_000).toISOString(), succeeded: i % 2, failed: 0 }))
    const { points } = mergeSeries([stats({ series })], '1h', now)
    expect(points.map((p) => p.t)).toEqual(series.map((p) => p.t))
    expect(mergeSeries([stats({ series: [] })], '1h', now).points).toEqual([])
  })

  it('gives the window’s overall success rate from every bucket', () => {
    const { points } = mergeSeries([stats({ series: [{ t: '2025-01-01T00:00:00Z', succeeded: 2, failed: 1 }, { t: '2025-01-01T00:01:00Z', succeeded: 0, failed: 0 }] })], '1h', Date.parse('2025-01-01T00:01:00Z'))
    expect(overallSuccessRate(points)).toBe(66.7)
    expect(overallSuccessRate([])).toBeNull()
  })

  it('weights per-bucket latency percentiles by attempts when the server sends them', () => {
    const a = stats({ series: [{ t: '2025-01-01T00:00:00Z', succeeded: 3, failed: 0, p50: 10, p95: 20, p99: 30 }] })
    const b = stats({ series: [{ t: '2025-01-01T00:00:00Z', succeeded: 1, failed: 0, p50: 50, p95: 60, p99: 70 }] })
    const { points, hasLatencySeries } = mergeSeries([a, b], '24h', Date.parse('2025-01-01T00:00:00Z'))
    expect(hasLatencySeries).toBe(true)
    // A 24h window has quarter-hour buckets, so 4 attempts are 0.27 a minute.
    expect(points.find((p) => p.t === '2025-01-01T00:00:00.000Z')).toMatchObject({ p50: 20, p95: 30, p99: 40, perMinute: 0.27 })
  })
})

describe('totals', () => {
  it('adds up the window and reports the worst p95', () => {
    const t = totals([
      stats({ total: 10, succeeded: 9, failed: 1, dead: 0, latency_ms: { avg: 1, p50: 1, p95: 40, p99: 50 } }),
      stats({ total: 5, succeeded: 1, failed: 4, timeouts: 3, dead: 2, latency_ms: { avg: 1, p50: 1, p95: 900, p99: 950 } }),
      // Idle: Warren reports zeros, which must not count as a latency.
      stats({ total: 0, success_rate: 0, latency_ms: { avg: 0, p50: 0, p95: 0, p99: 0 } }),
    ])
    expect(t).toEqual({ total: 15, succeeded: 10, failed: 5, dead: 2, successRate: 10 / 15, timeoutRate: 3 / 15, p95: 900 })
    expect(totals([stats({ total: 0, latency_ms: { avg: 0, p50: 0, p95: 0, p99: 0 } })]).p95).toBeNull()
  })
})

describe('troubled', () => {
  it('lists open circuits, disabled subscriptions with their reason, and failing ones', () => {
    const healthy = sub({ id: 'ok', name: 'ok' })
    const open = sub({ id: 'open', circuit_state: 'open' })
    const disabled = sub({ id: 'off', is_active: false, disabled_reason: 'receiver answered 410' })
    const failing = sub({ id: 'bad' })
    const byId = new Map([
      ['ok', stats({ succeeded: 100, failed: 1, success_rate: 0.99 })],
      ['bad', stats({ succeeded: 1, failed: 9, success_rate: 0.1, dead: 3 })],
    ])

    const result = troubled([healthy, open, disabled, failing], byId)

    expect(result.map((t) => [t.subscription.id, t.reasons])).toEqual([
      ['open', ['Circuit open']],
      ['off', ['Disabled: receiver answered 410']],
      ['bad', ['3 dead', 'Failing: 10% succeeded']],
    ])
  })
})

describe('troubled, with receiver outages', () => {
  it('says Paused for a paused subscription, and how many deliveries are held or being released', () => {
    const paused = sub({ id: 'p', is_active: false, disabled_reason: 'paused', held_count: 12 })
    const releasing = sub({ id: 'r', held_count: 3 })
    const idle = sub({ id: 'i', held_count: 0 })

    expect(troubled([paused, releasing, idle], new Map()).map((t) => [t.subscription.id, t.reasons])).toEqual([
      ['p', ['Paused', '12 held']],
      ['r', ['Releasing 3 held']],
    ])
  })
})

describe('queues', () => {
  it('orders deliver, then wait tiers from the shortest, then the graveyard', () => {
    const q = (name: string, kind: QueueInfo['kind']): QueueInfo => ({ name, kind, messages: 0, messages_unacked: 0, consumers: 0 })
    const sorted = sortQueues([q('warren.graveyard', 'graveyard'), q('warren.ordered.1', 'ordered'), q('warren.retry.1h', 'retry'), q('warren.retry.30s', 'retry'), q('warren.deliver', 'deliver'), q('warren.ordered.0', 'ordered'), q('warren.retry.2m', 'retry')])
    // The API's order: the FIFO shards after the wait tiers, before the graveyard.
    expect(sorted.map((x) => x.name)).toEqual(['warren.deliver', 'warren.retry.30s', 'warren.retry.2m', 'warren.retry.1h', 'warren.ordered.0', 'warren.ordered.1', 'warren.graveyard'])
    expect(tierSeconds('warren.retry.6h')).toBe(21600)
    // The server's `tier` wins over the name.
    const named = sortQueues([{ ...q('warren.retry.b', 'retry'), tier: '1h' }, { ...q('warren.retry.a', 'retry'), tier: '5s' }])
    expect(named.map((x) => x.tier)).toEqual(['5s', '1h'])
  })
})
