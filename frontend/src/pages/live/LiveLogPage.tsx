// The live log: every delivery attempt as it happens, filterable and pausable.
import { Link, useSearchParams } from 'react-router-dom'
import { useEvent, useSubscriptions, type Subscription } from '../../api'
import { Badge, Button, Card, EmptyState, PageHeader, SelectField, cx } from '../../components/ui'
import { failureReason } from '../../lib/attemptResult'
import { formatClock, formatMs, formatTime } from '../../lib/format'
import { useLiveLog, type LiveFilters, type LiveLine, type StatusFilter } from './useLiveLog'

export function LiveLogPage() {
  const [params, setParams] = useSearchParams()
  const filters: LiveFilters = {
    subscription_id: params.get('subscription_id') ?? '',
    status: (params.get('status') ?? '') as StatusFilter,
    outcome: (params.get('outcome') ?? '') as LiveFilters['outcome'],
  }
  const log = useLiveLog(filters)
  const subscriptions = useSubscriptions()

  const setFilter = (name: keyof LiveFilters) => (e: { target: { value: string } }) => {
    const next = new URLSearchParams(params)
    if (e.target.value) next.set(name, e.target.value)
    else next.delete(name)
    setParams(next, { replace: true })
  }

  const connected = log.connection.status === 'connected'

  return (
    <>
      <PageHeader title="Live log">
        <span role="status" className={cx('inline-flex items-center gap-1.5 text-sm', connected ? 'text-emerald-700' : 'text-slate-500')} title={log.connection.error ?? undefined}>
          <span aria-hidden className={cx('h-2 w-2 rounded-full', connected ? 'bg-emerald-500' : 'bg-slate-400')} />
          {connected ? 'Connected' : log.connection.status === 'connecting' ? 'Connecting…' : 'Disconnected'}
        </span>
        {log.paused ? (
          <Button variant="primary" onClick={log.resume}>
            Resume
          </Button>
        ) : (
          <Button onClick={log.pause}>Pause</Button>
        )}
        <Button onClick={log.clear} disabled={log.total === 0}>
          Clear
        </Button>
      </PageHeader>

      <Card className="mb-4">
        <div className="grid grid-cols-1 gap-3 sm:grid-cols-3">
          <SelectField
            label="Subscription"
            value={filters.subscription_id}
            onChange={setFilter('subscription_id')}
            options={[{ value: '', label: 'All subscriptions' }, ...(subscriptions.data ?? []).map((s) => ({ value: s.id, label: s.name }))]}
          />
          <SelectField
            label="Status"
            value={filters.status}
            onChange={setFilter('status')}
            options={[
              { value: '', label: 'Any status' },
              { value: '2xx', label: '2xx' },
              { value: '3xx', label: '3xx' },
              { value: '4xx', label: '4xx' },
              { value: '5xx', label: '5xx' },
              { value: 'none', label: 'No response' },
            ]}
          />
          <SelectField
            label="Outcome"
            value={filters.outcome}
            onChange={setFilter('outcome')}
            options={[
              { value: '', label: 'Any outcome' },
              { value: 'succeeded', label: 'Succeeded' },
              { value: 'failed', label: 'Failed' },
              { value: 'dead', label: 'Dead' },
              { value: 'held', label: 'Held' },
            ]}
          />
        </div>
      </Card>

      {log.paused && (
        <p role="status" className="mb-3 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900">
          Paused. {log.missed} attempt{log.missed === 1 ? '' : 's'} not shown since; Resume to follow again.
        </p>
      )}
      {!connected && log.connection.error && (
        <p role="alert" className="mb-3 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
          Live updates are not connected ({log.connection.error}); Warren keeps trying. Pages still show the latest on reload.
        </p>
      )}

      <Card>
        {log.lines.length === 0 ? (
          <EmptyState title={log.total === 0 ? 'Waiting for deliveries…' : 'No attempts match these filters.'}>
            {log.total === 0 ? 'Attempts appear here the moment Warren makes them. Send an event to a source to see one.' : `${log.total} hidden by the filters.`}
          </EmptyState>
        ) : (
          <LogTable lines={log.lines} subscriptions={subscriptions.data} />
        )}
      </Card>
    </>
  )
}

/** One grid for the header and every line: the columns line up, and stack on a phone. */
const COLUMNS = 'grid grid-cols-1 gap-1 md:grid-cols-[5rem_minmax(0,1.3fr)_6rem_8rem_minmax(0,2.2fr)] md:items-center md:gap-3'

const HEADERS = ['Time', 'Event', 'Outcome', 'Response', 'Delivery']

/**
 * The attempts as a table (ARIA roles on a CSS grid, so a phone gets one card per line): the
 * column headers are shown from md up, and read out at every width.
 */
function LogTable({ lines, subscriptions }: { lines: LiveLine[]; subscriptions?: Subscription[] }) {
  return (
    <div role="table" aria-label="Delivery attempts" className="text-sm">
      <div role="rowgroup" className="sr-only md:not-sr-only">
        <div role="row" className={cx(COLUMNS, 'border-b border-slate-200 pb-1.5 text-xs font-medium uppercase tracking-wide text-slate-500')}>
          {HEADERS.map((h) => (
            <span key={h} role="columnheader">
              {h}
            </span>
          ))}
        </div>
      </div>
      <div role="rowgroup" className="divide-y divide-slate-100">
        {lines.map((line) => (
          <LogLine key={line.key} line={line} subscriptions={subscriptions} />
        ))}
      </div>
    </div>
  )
}

function LogLine({ line, subscriptions }: { line: LiveLine; subscriptions?: Subscription[] }) {
  const subscription = subscriptions?.find((s) => s.id === line.subscription_id)
  const reason = failureReason(line.status_code, line.error_kind)
  return (
    <div role="row" className={cx(COLUMNS, 'py-2')} data-delivery-id={line.delivery_id}>
      <span role="cell">
        <time className="text-xs text-slate-500" dateTime={line.at} title={formatTime(line.at)}>
          {formatClock(line.at)}
        </time>
      </span>
      <span role="cell" className="min-w-0">
        <EventType line={line} />
        <span className="block truncate text-xs text-slate-500">
          {subscription?.name ?? 'subscription'} · {line.outcome === 'held' ? 'held while the subscription is stopped' : `attempt ${line.attempt} · ${formatMs(line.duration_ms)}`}
        </span>
      </span>
      <span role="cell">
        <Badge value={line.outcome} />
      </span>
      <span role="cell" className="text-slate-700">
        {line.outcome === 'held' ? 'not attempted' : line.status_code !== null && line.status_code !== undefined ? `HTTP ${line.status_code}` : 'no response'}
        {reason && <span className="block text-xs text-slate-500">{reason}</span>}
      </span>
      <span role="cell" className="min-w-0">
        <Link to={`/deliveries/${line.delivery_id}`} className="break-all font-mono text-xs text-teal-800 hover:underline" aria-label={`Delivery ${line.delivery_id}`}>
          {line.delivery_id}
        </Link>
      </span>
    </div>
  )
}

/** The event type from the socket message, else from the event itself. */
function EventType({ line }: { line: LiveLine }) {
  const event = useEvent(line.event_id, { enabled: !line.event_type })
  const type = line.event_type ?? event.data?.event_type
  return <span className="block truncate font-medium text-slate-800">{type ?? (event.isError ? 'unknown event' : '…')}</span>
}
