// Events: search by type, source, time and payload content, newest first, a page at a time.
import { useState, type FormEvent } from 'react'
import { useSearchParams } from 'react-router-dom'
import { useEvents, useSources, type EventFilters } from '../../api'
import { EventList } from '../../components/EventList'
import { Button, Card, EmptyState, ErrorMessage, LoadMore, Loading, PageHeader, SelectField, TextField } from '../../components/ui'
import { localInputToIso } from '../../lib/format'
import { parseJsonObject } from '../../lib/jsonObject'

const FIELDS = ['event_type', 'source_id', 'from', 'to', 'contains'] as const
type Draft = Record<(typeof FIELDS)[number], string>
const EMPTY: Draft = { event_type: '', source_id: '', from: '', to: '', contains: '' }

export function EventsPage() {
  const [params, setParams] = useSearchParams()
  const applied: Draft = { ...EMPTY }
  for (const f of FIELDS) applied[f] = params.get(f) ?? ''
  const [draft, setDraft] = useState<Draft>(applied)
  const [containsError, setContainsError] = useState<string | undefined>()
  const sources = useSources()

  const filters: EventFilters = {
    event_type: applied.event_type || undefined,
    source_id: applied.source_id || undefined,
    from: localInputToIso(applied.from),
    to: localInputToIso(applied.to),
    contains: applied.contains || undefined,
  }
  const events = useEvents(filters)
  const rows = events.data?.pages.flatMap((p) => p.data) ?? []
  const filtered = FIELDS.some((f) => applied[f])

  const apply = (e: FormEvent) => {
    e.preventDefault()
    // A search the server would refuse is refused here, without a request.
    const contains = parseJsonObject(draft.contains)
    setContainsError(contains.error && `Payload contains ${contains.error}`)
    if (contains.error) return
    const next = new URLSearchParams()
    for (const f of FIELDS) if (draft[f].trim()) next.set(f, draft[f].trim())
    if (contains.value) next.set('contains', JSON.stringify(contains.value))
    setParams(next)
  }
  const reset = () => {
    setDraft(EMPTY)
    setContainsError(undefined)
    setParams(new URLSearchParams())
  }
  const set = (f: keyof Draft) => (e: { target: { value: string } }) => {
    setDraft((d) => ({ ...d, [f]: e.target.value }))
    if (f === 'contains') setContainsError(undefined)
  }

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
          <TextField
            label="Payload contains"
            className="sm:col-span-2 lg:col-span-4"
            placeholder={'{"customer": {"id": "cus_1"}}'}
            value={draft.contains}
            onChange={set('contains')}
            error={containsError}
            hint="A JSON object: events whose payload holds every key of it with a matching value."
          />
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
            {filtered ? 'Try a wider window, another type or less of the payload.' : 'Events sent to a source’s ingest URL or the publish API show up here.'}
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
