// Sources: where providers send events. Create one, copy its ingest URL.
import { useState } from 'react'
import { Link } from 'react-router-dom'
import { useSources, type Source } from '../../api'
import { Card, CopyButton, EmptyState, ErrorMessage, Loading, Mono, Notice, PageHeader, TextLink } from '../../components/ui'
import { formatTime } from '../../lib/format'
import { PROVIDER_LABELS, SourceForm } from './SourceForm'

export function SourcesPage() {
  const sources = useSources()
  const [created, setCreated] = useState<Source | null>(null)

  return (
    <>
      <PageHeader title="Sources" />
      <div className="flex flex-col gap-4">
        <Card title="New source">
          <SourceForm onCreated={setCreated} />
          {created && (
            <div className="mt-3">
              <Notice>
                Source <TextLink to={`/sources/${created.id}`}>{created.name}</TextLink> created. Send its events to{' '}
                <Mono>{created.ingest_url}</Mono>
              </Notice>
            </div>
          )}
        </Card>
        <Card title="Your sources">
          {sources.isPending ? (
            <Loading label="Loading sources…" />
          ) : sources.isError ? (
            <ErrorMessage error={sources.error} title="Could not load sources" />
          ) : sources.data.length === 0 ? (
            <EmptyState title="No sources yet.">Create one above to get an ingest URL for a provider.</EmptyState>
          ) : (
            <ul className="divide-y divide-slate-100">
              {sources.data.map((source) => (
                <li key={source.id} className="flex flex-col gap-2 py-3 md:flex-row md:items-center md:justify-between">
                  <div className="min-w-0">
                    <Link to={`/sources/${source.id}`} className="font-medium text-teal-800 hover:underline">
                      {source.name}
                    </Link>
                    <p className="text-xs text-slate-500">
                      {PROVIDER_LABELS[source.provider] ?? source.provider} · created {formatTime(source.created_at)}
                    </p>
                  </div>
                  <div className="flex min-w-0 items-center gap-2">
                    <code className="min-w-0 flex-1 truncate rounded bg-slate-100 px-2 py-1 text-xs" title={source.ingest_url} data-ingest-url>
                      {source.ingest_url}
                    </code>
                    <CopyButton text={source.ingest_url} label="Copy ingest URL" />
                  </div>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </>
  )
}
