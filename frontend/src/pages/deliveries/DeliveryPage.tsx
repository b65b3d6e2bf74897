// One delivery: every attempt in order, what comes next, and Retry (for a dead or waiting one).
import { useParams } from 'react-router-dom'
import { canRetry, useDelivery, useEvent, useRetryDelivery, useSubscriptions, type Attempt, type Delivery } from '../../api'
import { Badge, Button, Card, EmptyState, ErrorMessage, Facts, Loading, Notice, PageHeader, TextLink } from '../../components/ui'
import { failureReason } from '../../lib/attemptResult'
import { formatMs, formatRelative, formatTime } from '../../lib/format'

/** Why a delivery was never attempted, for the statuses that say so. */
const NOT_TRIED: Partial<Record<string, string>> = {
  held: 'Held while its subscription is not active: it is sent when the subscription is resumed with its held deliveries delivered.',
  discarded: 'Discarded when its subscription was resumed: it was never sent.',
}

export function DeliveryPage() {
  const { id = '' } = useParams()
  const delivery = useDelivery(id)
  if (delivery.isPending) return <Loading label="Loading delivery…" />
  if (delivery.isError) return <ErrorMessage error={delivery.error} title="Could not load this delivery" />
  return <DeliveryDetail delivery={delivery.data} />
}

function DeliveryDetail({ delivery: d }: { delivery: Delivery }) {
  const retry = useRetryDelivery()
  const event = useEvent(d.event_id)
  const subscriptions = useSubscriptions()
  const subscription = subscriptions.data?.find((s) => s.id === d.subscription_id)
  const waiting = (d.status === 'pending' || d.status === 'retrying') && d.next_attempt_at

  return (
    <>
      <PageHeader title="Delivery">
        <Badge value={d.status} />
        {canRetry(d.status) && (
          <Button variant="primary" onClick={() => retry.mutate(d.id)} disabled={retry.isPending}>
            Retry
          </Button>
        )}
      </PageHeader>
      <div className="flex flex-col gap-4">
        <ErrorMessage error={retry.error} title="Could not retry" />
        {retry.isSuccess && <Notice>Retry queued: the next attempt follows the ones below.</Notice>}
        <Card>
          <Facts
            items={[
              ['Delivery id', <span className="font-mono text-xs">{d.id}</span>],
              ['Status', d.status],
              ['Event', <TextLink to={`/events/${d.event_id}`}>{event.data?.event_type ?? d.event_type ?? d.event_id}</TextLink>],
              ['Subscription', <TextLink to={`/subscriptions/${d.subscription_id}`}>{subscription?.name ?? d.subscription_id}</TextLink>],
              ['Attempts', String(d.attempt_count)],
              ['Next attempt', d.next_attempt_at ? `${formatTime(d.next_attempt_at)} (${formatRelative(d.next_attempt_at)})` : '—'],
              ['Created', formatTime(d.created_at)],
              [d.status === 'dead' ? 'Dead since' : 'Succeeded at', formatTime(d.status === 'dead' ? d.dead_at : d.succeeded_at)],
            ]}
          />
        </Card>
        <Card title="Attempts">
          {d.attempts.length === 0 ? (
            <EmptyState title="No attempts yet.">{NOT_TRIED[d.status] ?? (waiting ? `The first attempt is due ${formatRelative(d.next_attempt_at)}.` : 'Warren has not tried this delivery yet.')}</EmptyState>
          ) : (
            <ol aria-label="Attempt timeline" className="relative ml-2 border-l-2 border-slate-200">
              {d.attempts.map((a) => (
                <AttemptItem key={a.id ?? a.attempt} attempt={a} />
              ))}
              {waiting && (
                <li className="ml-4 pb-2">
                  <span aria-hidden className="absolute -left-[7px] mt-1.5 h-3 w-3 rounded-full border-2 border-sky-500 bg-white" />
                  <p className="text-sm text-slate-700">
                    Next attempt {formatTime(d.next_attempt_at)} ({formatRelative(d.next_attempt_at)})
                  </p>
                </li>
              )}
            </ol>
          )}
        </Card>
      </div>
    </>
  )
}

function AttemptItem({ attempt: a }: { attempt: Attempt }) {
  const ok = a.status_code !== null && a.status_code >= 200 && a.status_code < 300 && !a.error_kind
  const reason = failureReason(a.status_code, a.error_kind)
  return (
    <li className="mb-4 ml-4">
      <span aria-hidden className={`absolute -left-[7px] mt-1.5 h-3 w-3 rounded-full ${ok ? 'bg-emerald-500' : 'bg-red-500'}`} />
      <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1">
        <h3 className="text-sm font-semibold">Attempt {a.attempt}</h3>
        <Badge value={ok ? 'succeeded' : 'failed'} />
        <span className="text-sm text-slate-700">{a.status_code !== null ? `HTTP ${a.status_code}` : 'no response'}</span>
        {reason && <span className="text-sm text-red-700">{reason}</span>}
        <span className="text-sm text-slate-600">{formatMs(a.duration_ms)}</span>
        <time className="text-xs text-slate-500" dateTime={a.started_at}>
          {formatTime(a.started_at)}
        </time>
      </div>
      {a.response_excerpt && (
        <pre className="mt-1 max-h-40 overflow-auto rounded bg-slate-100 p-2 text-xs whitespace-pre-wrap break-all" aria-label={`Response to attempt ${a.attempt}`}>
          {a.response_excerpt}
        </pre>
      )}
    </li>
  )
}
