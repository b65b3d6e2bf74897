// The dashboard: how deliveries are going, who is in trouble, and what waits (the user's own
// backlog by status; the broker's queues, every tenant's, are in the operators' Admin section).
import { Link, useSearchParams } from 'react-router-dom'
import { useAllStats, useEnableSubscription, useSubscriptions, type Stats, type StatsWindow, type Subscription } from '../../api'
import { Button, ButtonLink, Card, EmptyState, ErrorMessage, Loading, PageHeader, cx } from '../../components/ui'
import { formatMs, formatPercent } from '../../lib/format'
import { mergeSeries, totals, troubled, type Trouble } from './aggregate'
import { BacklogCard } from './BacklogCard'
import { LatencyBySubscriptionChart, LatencyOverTimeChart, OutcomesChart, SuccessRateChart, ThroughputChart } from './Charts'

const WINDOWS: StatsWindow[] = ['1h', '24h', '7d']

export function DashboardPage() {
  const [params, setParams] = useSearchParams()
  const window = (WINDOWS.includes(params.get('window') as StatsWindow) ? params.get('window') : '1h') as StatsWindow
  const subscriptions = useSubscriptions()
  const subs = subscriptions.data ?? []
  // One call for every subscription's stats and backlog, however many there are.
  const all = useAllStats(window)
  const entries = all.data?.data
  const statsById = new Map<string, Stats | undefined>((entries ?? []).map((s) => [s.subscription_id, s]))
  const stats = subs.map((s) => statsById.get(s.id)).filter((s): s is Stats => Boolean(s))
  const statsError = all.error

  return (
    <>
      <PageHeader title="Dashboard">
        <div role="group" aria-label="Window" className="inline-flex overflow-hidden rounded-md border border-slate-300">
          {WINDOWS.map((w) => (
            <button
              key={w}
              type="button"
              aria-pressed={w === window}
              onClick={() => setParams({ window: w }, { replace: true })}
              className={cx('px-3 py-1.5 text-sm', w === window ? 'bg-teal-700 text-white' : 'bg-white hover:bg-slate-100')}
            >
              {w}
            </button>
          ))}
        </div>
      </PageHeader>
      {subscriptions.isPending ? (
        <Loading label="Loading subscriptions…" />
      ) : subscriptions.isError ? (
        <ErrorMessage error={subscriptions.error} title="Could not load subscriptions" />
      ) : (
        <div className="flex flex-col gap-4">
          {subs.length === 0 ? (
            <EmptyState title="Nothing to chart yet.">
              Create a <Link className="text-teal-800 underline" to="/sources">source</Link> and a{' '}
              <Link className="text-teal-800 underline" to="/subscriptions/new">subscription</Link>, then send an event.
            </EmptyState>
          ) : (
            <>
              <ErrorMessage error={statsError} title="Some stats could not be loaded" />
              <DeliveryStats window={window} stats={stats} subs={subs} statsById={statsById} loading={all.isPending} />
              <TroubleCard troubles={troubled(subs, statsById)} />
              <BacklogCard subscriptions={subs} stats={entries} error={all.error} />
            </>
          )}
        </div>
      )}
    </>
  )
}

function Tile({ label, value, aside }: { label: string; value: string; aside?: string }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-3 shadow-sm">
      <p className="text-xs uppercase tracking-wide text-slate-500">{label}</p>
      <p className="mt-1 text-xl font-semibold">
        {value}
        {aside && <span className="ml-2 text-xs font-normal text-slate-500">{aside}</span>}
      </p>
    </div>
  )
}

function DeliveryStats({ window, stats, subs, statsById, loading }: { window: StatsWindow; stats: Stats[]; subs: Subscription[]; statsById: Map<string, Stats | undefined>; loading: boolean }) {
  if (loading && stats.length === 0) return <Loading label="Loading stats…" />
  const { points, hasLatencySeries } = mergeSeries(stats, window)
  const t = totals(stats)
  const latencyRows = subs
    .filter((s) => (statsById.get(s.id)?.total ?? 0) > 0)
    .map((s) => ({ name: s.name, ...statsById.get(s.id)?.latency_ms }))
    .filter((r) => typeof r.p50 === 'number')
    .map((r) => ({ name: r.name, p50: r.p50 ?? null, p95: r.p95 ?? null, p99: r.p99 ?? null }))
  return (
    <>
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
        <Tile label={`Attempts (${window})`} value={String(t.total)} />
        <Tile label="Success rate" value={formatPercent(t.successRate)} aside={`${formatPercent(t.timeoutRate)} timed out`} />
        <Tile label="Dead" value={String(t.dead)} />
        <Tile label="Worst p95" value={formatMs(t.p95)} />
      </div>
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
        <Card title="Deliveries per minute">
          {points.length ? <ThroughputChart points={points} window={window} /> : <EmptyState title="No deliveries in this window." />}
        </Card>
        <Card title="Success rate">
          {points.some((p) => p.succeeded + p.failed > 0) ? <SuccessRateChart points={points} window={window} /> : <EmptyState title="No attempts in this window." />}
        </Card>
        <Card title="Succeeded and failed">
          {points.length ? <OutcomesChart points={points} window={window} /> : <EmptyState title="No deliveries in this window." />}
        </Card>
        <Card title="Latency percentiles">
          {hasLatencySeries ? (
            <LatencyOverTimeChart points={points} window={window} />
          ) : latencyRows.length ? (
            <LatencyBySubscriptionChart rows={latencyRows} />
          ) : (
            <EmptyState title="No latencies in this window." />
          )}
        </Card>
      </div>
    </>
  )
}

function TroubleCard({ troubles }: { troubles: Trouble[] }) {
  const enable = useEnableSubscription()
  return (
    <Card title="Subscriptions in trouble">
      <ErrorMessage error={enable.error} title="Could not enable" />
      {troubles.length === 0 ? (
        <p className="text-sm text-emerald-700">All subscriptions are healthy.</p>
      ) : (
        <ul className="divide-y divide-slate-100">
          {troubles.map(({ subscription: s, reasons }) => (
            <li key={s.id} className="flex flex-col gap-2 py-2 sm:flex-row sm:items-center sm:justify-between">
              <div className="min-w-0">
                <Link to={`/subscriptions/${s.id}`} className="font-medium text-teal-800 hover:underline">
                  {s.name}
                </Link>
                <p className="text-sm text-amber-800">{reasons.join(' · ')}</p>
              </div>
              <div className="flex gap-2">
                {(!s.is_active || s.circuit_state !== 'closed') && (
                  // Enabling delivers what it held (the API's default); discarding is offered on its own page.
                  <Button onClick={() => enable.mutate({ id: s.id })} disabled={enable.isPending}>
                    {s.is_active ? 'Re-enable' : 'Resume'}
                  </Button>
                )}
                <ButtonLink to={`/dead-letters?subscription_id=${s.id}`}>Dead letters</ButtonLink>
              </div>
            </li>
          ))}
        </ul>
      )}
    </Card>
  )
}
