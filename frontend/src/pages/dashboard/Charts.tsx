// The dashboard's charts, drawn with recharts.
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts'
import type { StatsWindow } from '../../api'
import type { MergedPoint } from './aggregate'

function tickFormatter(window: StatsWindow) {
  return (iso: string) => {
    const d = new Date(iso)
    const pad = (n: number) => String(n).padStart(2, '0')
    return window === '7d' ? `${d.getMonth() + 1}/${d.getDate()} ${pad(d.getHours())}h` : `${pad(d.getHours())}:${pad(d.getMinutes())}`
  }
}

const labelFormatter = (label: unknown) => new Date(String(label)).toLocaleString()

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
      <AreaChart data={points} margin={{ top: 5, right: 10, left: -10, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="t" tickFormatter={tickFormatter(window)} minTickGap={24} fontSize={11} />
        <YAxis fontSize={11} allowDecimals />
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
      <BarChart data={points} margin={{ top: 5, right: 10, left: -10, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="t" tickFormatter={tickFormatter(window)} minTickGap={24} fontSize={11} />
        <YAxis fontSize={11} allowDecimals={false} />
        <Tooltip labelFormatter={labelFormatter} />
        <Legend />
        <Bar dataKey="succeeded" stackId="a" fill="#10b981" isAnimationActive={false} />
        <Bar dataKey="failed" stackId="a" fill="#f59e0b" isAnimationActive={false} />
      </BarChart>
    </ChartBox>
  )
}

export function SuccessRateChart({ points, window }: { points: MergedPoint[]; window: StatsWindow }) {
  return (
    <ChartBox label="Success rate over time">
      <LineChart data={points} margin={{ top: 5, right: 10, left: -10, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="t" tickFormatter={tickFormatter(window)} minTickGap={24} fontSize={11} />
        <YAxis domain={[0, 100]} unit="%" fontSize={11} />
        <Tooltip labelFormatter={labelFormatter} formatter={(v) => `${v}%`} />
        <Line type="monotone" dataKey="successRate" name="success rate" stroke="#0f766e" dot={{ r: 2 }} connectNulls isAnimationActive={false} />
      </LineChart>
    </ChartBox>
  )
}

export function LatencyOverTimeChart({ points, window }: { points: MergedPoint[]; window: StatsWindow }) {
  return (
    <ChartBox label="Latency percentiles over time">
      <LineChart data={points} margin={{ top: 5, right: 10, left: -10, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="t" tickFormatter={tickFormatter(window)} minTickGap={24} fontSize={11} />
        <YAxis unit=" ms" fontSize={11} />
        <Tooltip labelFormatter={labelFormatter} formatter={(v) => `${v} ms`} />
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
      <BarChart data={rows} margin={{ top: 5, right: 10, left: -10, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="name" fontSize={11} interval={0} tickFormatter={(n: string) => (n.length > 14 ? `${n.slice(0, 13)}…` : n)} />
        <YAxis unit=" ms" fontSize={11} />
        <Tooltip formatter={(v) => `${v} ms`} />
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
      <BarChart data={rows} margin={{ top: 5, right: 10, left: -10, bottom: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
        <XAxis dataKey="tier" fontSize={11} interval={0} />
        <YAxis fontSize={11} allowDecimals={false} />
        <Tooltip />
        <Legend />
        <Bar dataKey="messages" stackId="q" fill="#0f766e" isAnimationActive={false} />
        <Bar dataKey="unacked" stackId="q" fill="#94a3b8" isAnimationActive={false} />
      </BarChart>
    </ChartBox>
  )
}
