// One source: its ingest URL, how to send to it, and its recent events.
import { useNavigate, useParams } from 'react-router-dom'
import { useDeleteSource, useEvents, useSource } from '../../api'
import { EventList } from '../../components/EventList'
import { Button, Card, CopyButton, EmptyState, ErrorMessage, Facts, Loading, PageHeader, TextLink } from '../../components/ui'
import { formatTime } from '../../lib/format'
import { PROVIDER_LABELS } from './SourceForm'

export function SourceDetailPage() {
  const { id = '' } = useParams()
  const source = useSource(id)
  const events = useEvents({ source_id: id }, 20)
  const remove = useDeleteSource()
  const navigate = useNavigate()

  if (source.isPending) return <Loading label="Loading source…" />
  if (source.isError) return <ErrorMessage error={source.error} title="Could not load this source" />
  const s = source.data
  const recent = events.data?.pages.flatMap((p) => p.data) ?? []

  const onDelete = () => {
    if (!window.confirm(`Delete the source “${s.name}”? Its events are kept.`)) return
    remove.mutate(s.id, { onSuccess: () => navigate('/sources') })
  }

  return (
    <>
      <PageHeader title={s.name}>
        <Button variant="danger" onClick={onDelete} disabled={remove.isPending}>
          Delete source
        </Button>
      </PageHeader>
      <div className="flex flex-col gap-4">
        <ErrorMessage error={remove.error} title="Could not delete" />
        <Card title="Ingest URL">
          <div className="flex flex-col gap-2 sm:flex-row sm:items-center">
            <code className="min-w-0 flex-1 break-all rounded bg-slate-100 px-2 py-1.5 text-xs" data-ingest-url>
              {s.ingest_url}
            </code>
            <CopyButton text={s.ingest_url} label="Copy ingest URL" />
          </div>
          <p className="mt-3 text-sm text-slate-600">Try it:</p>
          <pre className="mt-1 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100">
            {`curl -X POST '${s.ingest_url}' \\\n  -H 'content-type: application/json' \\\n  -d '{"type": "order.paid", "id": 42}'`}
          </pre>
        </Card>
        <Card title="Details">
          <Facts
            items={[
              ['Provider', PROVIDER_LABELS[s.provider] ?? s.provider],
              ['Verification secret', s.has_verification_secret === undefined ? '—' : s.has_verification_secret ? 'Set' : 'None'],
              ['Created', formatTime(s.created_at)],
              ['Id', <span className="font-mono text-xs">{s.id}</span>],
            ]}
          />
        </Card>
        <Card title="Recent events" actions={<TextLink to={`/events?source_id=${s.id}`}>All events of this source</TextLink>}>
          {events.isPending ? (
            <Loading label="Loading events…" />
          ) : events.isError ? (
            <ErrorMessage error={events.error} title="Could not load events" />
          ) : recent.length === 0 ? (
            <EmptyState title="No events yet.">Events posted to the ingest URL show up here.</EmptyState>
          ) : (
            <EventList events={recent} sources={[s]} />
          )}
        </Card>
      </div>
    </>
  )
}
