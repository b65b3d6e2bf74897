// Events: search by type, source and time, newest first, a page at a time.
import { useState, type FormEvent } from 'react'
import { useSearchParams } from 'react-router-dom'
import { useEvents, useSources, type EventFilters } from '../../api'
import { EventList } from '../../components/EventList'
import { Button, Card, EmptyState, ErrorMessage, LoadMore, Loading, PageHeader, SelectField, TextField } from '../../components/ui'
import { localInputToIso } from '../../lib/format'

const FIELDS = ['event_type', 'source_id', 'from', 'to'] as const
type Draft = Record<(typeof FIELDS)[number], string>

export function EventsPage() {
  const [params, setParams] = useSearchParams()
  const applied: Draft = { event_type: '', source_id: '', from: '', to: '' }
  for (const f of FIELDS) applied[f] = params.get(f) ?? ''
  const [draft, setDraft] = useState<Draft>(applied)
  const sources = useSources()

  const filters: EventFilters = {
    event_type: applied.event_type || undefined,
    source_id: applied.source_id || undefined,
    from: localInputToIso(applied.from),
    to: localInputToIso(applied.to),
  }
  const events = useEvents(filters)
  const rows = events.data?.pages.flatMap((p) => p.data) ?? []
  const filtered = FIELDS.some((f) => applied[f])

  const apply = (e: FormEvent) => {
    e.preventDefault()
    const next = new URLSearchParams()
    for (const f of FIELDS) if (draft[f].trim()) next.set(f, draft[f].trim())
    setParams(next)
  }
  const reset = () => {
    setDraft({ event_type: '', source_id: '', from: '', to: '' })
    setParams(new URLSearchParams())
  }
  const set = (f: keyof Draft) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [f]: e.target.value }))

  return (
    <>
      <PageHeader title="Events" />
      <Card className="mb-4">
        <form onSubmit={apply} className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-[1.2fr_1fr_1fr_1fr_auto] lg:items-end" role="search">
          <TextField label="Event type" placeholder="order.paid" value={draft.event_type} onChange={set('event_type')} />
          <SelectField
            label="Source"
            value={draft.source_id}
            onChange={set('source_id')}
            options={[{ value: '', label: 'Any source' }, ...(sources.data ?? []).map((s) => ({ value: s.id, label: s.name }))]}
          />
          <TextField label="From" type="datetime-local" value={draft.from} onChange={set('from')} />
          <TextField label="To" type="datetime-local" value={draft.to} onChange={set('to')} />
          <div className="flex gap-2">
            <Button type="submit" variant="primary">
              Search
            </Button>
            <Button onClick={reset} disabled={!filtered}>
              Reset
            </Button>
          </div>
        </form>
      </Card>
      <Card>
        {events.isPending ? (
          <Loading label="Loading events…" />
        ) : events.isError && rows.length === 0 ? (
          <ErrorMessage error={events.error} title="Could not load events" />
        ) : rows.length === 0 ? (
          <EmptyState title={filtered ? 'No events match these filters.' : 'No events yet.'}>
            {filtered ? 'Try a wider window or another type.' : 'Events sent to a source’s ingest URL or the publish API show up here.'}
          </EmptyState>
        ) : (
          <>
            <EventList events={rows} sources={sources.data} />
            <ErrorMessage error={events.isError ? events.error : null} title="Could not load more" />
            <LoadMore hasMore={events.hasNextPage} loading={events.isFetchingNextPage} onClick={() => events.fetchNextPage()} />
          </>
        )}
      </Card>
    </>
  )
}
