// One event: its payload, headers and deliveries, and replay to all or one subscription.
import { useState } from 'react'
import { Link, useParams } from 'react-router-dom'
import { useEvent, useReplayEvent, useSources, useSubscriptions, type Subscription, type WarrenEvent } from '../../api'
import { Badge, Button, Card, EmptyState, ErrorMessage, Facts, JsonView, Loading, Notice, PageHeader, SelectField, TextLink } from '../../components/ui'
import { formatRelative, formatTime } from '../../lib/format'

export function EventDetailPage() {
  const { id = '' } = useParams()
  const event = useEvent(id)
  if (event.isPending) return <Loading label="Loading event…" />
  if (event.isError) return <ErrorMessage error={event.error} title="Could not load this event" />
  return <EventDetail event={event.data} />
}

function EventDetail({ event: raw }: { event: WarrenEvent }) {
  // The list shape carries a count under `deliveries`; the detail, the deliveries themselves.
  const event = { ...raw, deliveries: Array.isArray(raw.deliveries) ? raw.deliveries : [] }
  const sources = useSources()
  const subscriptions = useSubscriptions()
  const source = sources.data?.find((s) => s.id === event.source_id)
  const [view, setView] = useState<'payload' | 'raw'>(event.payload === null || event.payload === undefined ? 'raw' : 'payload')

  return (
    <>
      <PageHeader title={event.event_type} />
      <div className="flex flex-col gap-4">
        <Card title="Event">
          <Facts
            items={[
              ['Id', <span className="font-mono text-xs">{event.id}</span>],
              ['Received', formatTime(event.received_at)],
              ['Source', event.source_id ? <TextLink to={`/sources/${event.source_id}`}>{source?.name ?? event.source_id}</TextLink> : 'Publish API'],
              ['Content type', event.content_type ?? '—'],
              ['Idempotency key', event.idempotency_key ?? '—'],
              ['Verified by', event.verified_by ?? '—'],
            ]}
          />
        </Card>
        <Card
          title={view === 'payload' ? 'Payload' : 'Raw body'}
          actions={
            <>
              <Button onClick={() => setView('payload')} disabled={view === 'payload'}>
                Show payload
              </Button>
              <Button onClick={() => setView('raw')} disabled={view === 'raw' || event.raw_body === undefined}>
                Show raw body
              </Button>
            </>
          }
        >
          {view === 'payload' ? (
            event.payload === null || event.payload === undefined ? (
              <EmptyState title="Not JSON.">This body was not JSON; see the raw body.</EmptyState>
            ) : (
              <JsonView value={event.payload} label="Payload" />
            )
          ) : (
            <JsonView value={event.raw_body ?? ''} label="Raw body" />
          )}
          {event.headers && Object.keys(event.headers).length > 0 && (
            <details className="mt-3">
              <summary className="cursor-pointer text-sm text-slate-700">Headers</summary>
              <div className="mt-2">
                <JsonView value={event.headers} label="Headers" />
              </div>
            </details>
          )}
        </Card>
        <ReplayCard event={event} subscriptions={subscriptions.data ?? []} />
        <Card title="Deliveries">
          {event.deliveries.length === 0 ? (
            <EmptyState title="No deliveries.">No active subscription took this event when it arrived.</EmptyState>
          ) : (
            <ul className="divide-y divide-slate-100">
              {event.deliveries.map((d) => {
                const sub = subscriptions.data?.find((s) => s.id === d.subscription_id)
                return (
                  <li key={d.id} className="flex flex-wrap items-center gap-x-4 gap-y-1 py-2 text-sm">
                    <Badge value={d.status} />
                    <Link to={`/deliveries/${d.id}`} className="break-all font-mono text-xs text-teal-800 hover:underline">
                      {d.id}
                    </Link>
                    <span className="text-slate-700">{sub ? <TextLink to={`/subscriptions/${sub.id}`}>{sub.name}</TextLink> : 'deleted subscription'}</span>
                    <span className="text-slate-600">
                      {d.attempt_count} attempt{d.attempt_count === 1 ? '' : 's'}
                      {d.last_status_code ? ` · HTTP ${d.last_status_code}` : ''}
                      {d.next_attempt_at ? ` · next ${formatRelative(d.next_attempt_at)}` : ''}
                    </span>
                  </li>
                )
              })}
            </ul>
          )}
        </Card>
      </div>
    </>
  )
}

function ReplayCard({ event, subscriptions }: { event: WarrenEvent; subscriptions: Subscription[] }) {
  const [target, setTarget] = useState('')
  const replay = useReplayEvent(event.id)
  return (
    <Card title="Replay">
      <div className="flex flex-col gap-3 sm:flex-row sm:items-end">
        <SelectField
          className="sm:w-80"
          label="Replay to"
          value={target}
          onChange={(e) => setTarget(e.target.value)}
          options={[{ value: '', label: 'All matching subscriptions' }, ...subscriptions.map((s) => ({ value: s.id, label: s.name }))]}
        />
        <Button variant="primary" onClick={() => replay.mutate(target || null)} disabled={replay.isPending}>
          Replay
        </Button>
      </div>
      <p className="mt-2 text-xs text-slate-500">Replaying creates new deliveries with fresh attempts.</p>
      <div className="mt-2">
        <ErrorMessage error={replay.error} title="Could not replay" />
        {replay.isSuccess && <Notice>Replay queued. New deliveries appear below and in the live log.</Notice>}
      </div>
    </Card>
  )
}
