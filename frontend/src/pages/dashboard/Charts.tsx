// The dashboard's charts, drawn with recharts. Every value axis sizes itself to its labels
// (`width="auto"`) and formats them short, so no label is cut at the chart's left edge.
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts'
import type { StatsWindow } from '../../api'
import { formatMs } from '../../lib/format'
import { overallSuccessRate, type MergedPoint } from './aggregate'

function tickFormatter(window: StatsWindow) {
  return (iso: string) => {
    const d = new Date(iso)
    const pad = (n: number) => String(n).padStart(2, '0')
    return window === '7d' ? `${d.getMonth() + 1}/${d.getDate()} ${pad(d.getHours())}h` : `${pad(d.getHours())}:${pad(d.getMinutes())}`
  }
}

const labelFormatter = (label: unknown) => new Date(String(label)).toLocaleString()

/** Room around the plot: none is taken from the left, where the value axis's labels are. */
const MARGIN = { top: 5, right: 10, left: 0, bottom: 0 }

/** "0.25", "3", "1.5k": a count or rate as short as it can be said. */
export function formatCount(v: number): string {
  if (Math.abs(v) >= 1000) return `${Math.round(v / 100) / 10}k`
  return String(Math.round(v * 100) / 100)
}

const formatPercentTick = (v: number) => `${v}%`
const formatMsTick = (v: number) => formatMs(v)

function ChartBox({ label, children }: { label: string; children: React.ReactElement }) {
  return (
    <div role="img" aria-label={label} className="h-56 w-full">
      <ResponsiveContainer width="100%" height="100%" minWidth={0}>
        {children}
      </ResponsiveContainer>
    </div>
  )
}

export function ThroughputChart({ points, window }: { points: MergedPoint[]; window: StatsWindow }) {
  return (
    <ChartBox label="Deliveries per minute over time">
      <AreaChart data={points} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="t" tickFormatter={tickFormatter(window)} minTickGap={24} fontSize={11} />
        <YAxis fontSize={11} width="auto" allowDecimals tickFormatter={formatCount} />
        <Tooltip labelFormatter={labelFormatter} />
        <Legend />
        <Area type="monotone" dataKey="perMinute" name="per minute" stroke="#0f766e" fill="#99f6e4" isAnimationActive={false} />
      </AreaChart>
    </ChartBox>
  )
}

export function OutcomesChart({ points, window }: { points: MergedPoint[]; window: StatsWindow }) {
  return (
    <ChartBox label="Succeeded and failed per bucket">
      <BarChart data={points} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="t" tickFormatter={tickFormatter(window)} minTickGap={24} fontSize={11} />
        <YAxis fontSize={11} width="auto" allowDecimals={false} tickFormatter={formatCount} />
        <Tooltip labelFormatter={labelFormatter} />
        <Legend />
        <Bar dataKey="succeeded" stackId="a" fill="#10b981" isAnimationActive={false} />
        <Bar dataKey="failed" stackId="a" fill="#f59e0b" isAnimationActive={false} />
      </BarChart>
    </ChartBox>
  )
}

/**
 * The success rate of each bucket as a bar over the whole window (a bucket without attempts
 * has none), and the window's overall rate as a dashed line across: one busy minute still
 * reads as a bar against the hour, not a lone dot.
 */
export function SuccessRateChart({ points, window }: { points: MergedPoint[]; window: StatsWindow }) {
  const overall = overallSuccessRate(points)
  return (
    <ChartBox label="Success rate per bucket">
      <BarChart data={points} margin={MARGIN} barCategoryGap={1}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="t" tickFormatter={tickFormatter(window)} minTickGap={24} fontSize={11} />
        <YAxis domain={[0, 100]} ticks={[0, 25, 50, 75, 100]} fontSize={11} width="auto" tickFormatter={formatPercentTick} />
        <Tooltip labelFormatter={labelFormatter} formatter={(v) => `${v}%`} />
        <Bar dataKey="successRate" name="success rate" fill="#14b8a6" minPointSize={2} isAnimationActive={false} />
        {overall !== null && (
          <ReferenceLine
            y={overall}
            stroke="#0f766e"
            strokeDasharray="4 3"
            label={{ value: `${overall}% over ${window}`, position: overall > 50 ? 'insideBottomLeft' : 'insideTopLeft', fontSize: 11, fill: '#0f766e' }}
          />
        )}
      </BarChart>
    </ChartBox>
  )
}

export function LatencyOverTimeChart({ points, window }: { points: MergedPoint[]; window: StatsWindow }) {
  return (
    <ChartBox label="Latency percentiles over time">
      <LineChart data={points} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="t" tickFormatter={tickFormatter(window)} minTickGap={24} fontSize={11} />
        <YAxis fontSize={11} width="auto" allowDecimals={false} tickFormatter={formatMsTick} />
        <Tooltip labelFormatter={labelFormatter} formatter={(v) => formatMs(Number(v))} />
        <Legend />
        <Line type="monotone" dataKey="p50" stroke="#0ea5e9" dot={false} connectNulls isAnimationActive={false} />
        <Line type="monotone" dataKey="p95" stroke="#f59e0b" dot={false} connectNulls isAnimationActive={false} />
        <Line type="monotone" dataKey="p99" stroke="#ef4444" dot={false} connectNulls isAnimationActive={false} />
      </LineChart>
    </ChartBox>
  )
}

export interface LatencyRow {
  name: string
  p50: number | null
  p95: number | null
  p99: number | null
}

export function LatencyBySubscriptionChart({ rows }: { rows: LatencyRow[] }) {
  return (
    <ChartBox label="Latency percentiles per subscription">
      <BarChart data={rows} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="name" fontSize={11} interval={0} tickFormatter={(n: string) => (n.length > 14 ? `${n.slice(0, 13)}…` : n)} />
        <YAxis fontSize={11} width="auto" allowDecimals={false} tickFormatter={formatMsTick} />
        <Tooltip formatter={(v) => formatMs(Number(v))} />
        <Legend />
        <Bar dataKey="p50" fill="#0ea5e9" isAnimationActive={false} />
        <Bar dataKey="p95" fill="#f59e0b" isAnimationActive={false} />
        <Bar dataKey="p99" fill="#ef4444" isAnimationActive={false} />
      </BarChart>
    </ChartBox>
  )
}

export function BacklogChart({ rows }: { rows: { tier: string; messages: number; unacked: number }[] }) {
  return (
    <ChartBox label="Backlog per wait tier">
      <BarChart data={rows} margin={MARGIN}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="tier" fontSize={11} interval={0} />
        <YAxis fontSize={11} width="auto" allowDecimals={false} tickFormatter={formatCount} />
        <Tooltip />
        <Legend />
        <Bar dataKey="messages" stackId="q" fill="#0f766e" isAnimationActive={false} />
        <Bar dataKey="unacked" stackId="q" fill="#94a3b8" isAnimationActive={false} />
      </BarChart>
    </ChartBox>
  )
}
