// Every subscription at a glance: where it sends, what it takes, whether it is healthy.
import { Link } from 'react-router-dom'
import { useSources, useSubscriptions } from '../../api'
import { ButtonLink, Card, EmptyState, ErrorMessage, Loading, PageHeader } from '../../components/ui'
import { isPaused, SubscriptionStateBadges } from './SubscriptionStateBadges'

export function SubscriptionsPage() {
  const subscriptions = useSubscriptions()
  const sources = useSources()
  const sourceName = (id: string | null) => (id ? (sources.data?.find((s) => s.id === id)?.name ?? 'a source') : 'every source')

  return (
    <>
      <PageHeader title="Subscriptions">
        <ButtonLink to="/subscriptions/new" variant="primary">
          New subscription
        </ButtonLink>
      </PageHeader>
      <Card>
        {subscriptions.isPending ? (
          <Loading label="Loading subscriptions…" />
        ) : subscriptions.isError ? (
          <ErrorMessage error={subscriptions.error} title="Could not load subscriptions" />
        ) : subscriptions.data.length === 0 ? (
          <EmptyState title="No subscriptions yet.">
            A subscription sends events to a URL of yours. <Link className="text-teal-800 underline" to="/subscriptions/new">Create one</Link>.
          </EmptyState>
        ) : (
          <ul className="divide-y divide-slate-100">
            {subscriptions.data.map((s) => (
              <li key={s.id} className="grid grid-cols-1 gap-1 py-3 md:grid-cols-[minmax(0,1fr)_minmax(0,1.5fr)_auto] md:items-center md:gap-4">
                <div className="min-w-0">
                  <Link to={`/subscriptions/${s.id}`} className="font-medium text-teal-800 hover:underline">
                    {s.name}
                  </Link>
                  <p className="text-xs text-slate-500">
                    From {sourceName(s.source_id)} · {s.event_types.length ? s.event_types.join(', ') : 'every type'}
                  </p>
                </div>
                <code className="truncate text-xs text-slate-600" title={s.target_url}>
                  {s.target_url}
                </code>
                <div className="flex flex-wrap items-center gap-2">
                  <SubscriptionStateBadges subscription={s} />
                  {!s.is_active && s.disabled_reason && !isPaused(s) && <span className="text-xs text-slate-500">{s.disabled_reason}</span>}
                </div>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </>
  )
}
