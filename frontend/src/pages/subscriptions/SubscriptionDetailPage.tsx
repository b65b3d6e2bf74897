// One subscription: its health, pausing and resuming it, its FIFO line when it is ordered,
// secret, recent deliveries by status, a test event, replaying a time range, and its settings.
import { useState } from 'react'
import { Link, useLocation, useNavigate, useParams } from 'react-router-dom'
import {
  DELIVERY_STATUSES,
  HELD_REFRESH_MS,
  holdsDeliveries,
  useDeleteSubscription,
  usePauseSubscription,
  usePublishEvent,
  useSources,
  useSubscription,
  useSubscriptionDeliveries,
  useSubscriptionsStats,
  useUpdateSubscription,
  type Subscription,
} from '../../api'
import { Badge, Button, Card, CopyButton, EmptyState, ErrorMessage, Facts, Loading, Notice, PageHeader, SelectField, TextLink, Url } from '../../components/ui'
import { describeAnswer } from '../../lib/attemptResult'
import { formatMs, formatPercent, formatTime } from '../../lib/format'
import { FifoLineCard } from './FifoLineCard'
import { ReplayRangeCard } from './ReplayRangeCard'
import { SecretPanel } from './SecretPanel'
import { StateBanner } from './StateBanner'
import { SubscriptionForm } from './SubscriptionForm'
import { SubscriptionStateBadges } from './SubscriptionStateBadges'
import { takesEventType, toForm } from './formModel'

export const TEST_EVENT_TYPE = 'warren.test'

export function SubscriptionDetailPage() {
  const { id = '' } = useParams()
  const subscription = useSubscription(id)
  const location = useLocation()
  const justCreated = Boolean((location.state as { created?: boolean } | null)?.created)

  if (subscription.isPending) return <Loading label="Loading subscription…" />
  if (subscription.isError) return <ErrorMessage error={subscription.error} title="Could not load this subscription" />
  return <SubscriptionDetail subscription={subscription.data} justCreated={justCreated} />
}

function SubscriptionDetail({ subscription: s, justCreated }: { subscription: Subscription; justCreated: boolean }) {
  const navigate = useNavigate()
  const update = useUpdateSubscription(s.id)
  const remove = useDeleteSubscription()
  const pause = usePauseSubscription()
  const sources = useSources()
  const sourceName = s.source_id ? (sources.data?.find((x) => x.id === s.source_id)?.name ?? s.source_id) : 'Every source'

  const onDelete = () => {
    if (!window.confirm(`Delete “${s.name}”? Its deliveries and their attempts are deleted too.`)) return
    remove.mutate(s.id, { onSuccess: () => navigate('/subscriptions') })
  }

  return (
    <>
      <PageHeader title={s.name}>
        <SubscriptionStateBadges subscription={s} />
        {s.is_active && (
          <Button onClick={() => pause.mutate(s.id)} disabled={pause.isPending}>
            Pause
          </Button>
        )}
        <Button variant="danger" onClick={onDelete} disabled={remove.isPending}>
          Delete subscription
        </Button>
      </PageHeader>
      <div className="flex flex-col gap-4">
        {justCreated && <Notice>Subscription created. Give its signing secret to the receiver so it can verify requests.</Notice>}
        <ErrorMessage error={remove.error} title="Could not delete" />
        <ErrorMessage error={pause.error} title="Could not pause" />
        <StateBanner subscription={s} />
        {s.ordering === 'fifo' && <FifoLineCard subscriptionId={s.id} />}
        <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
          <Card title="Overview">
            <Facts
              items={[
                [
                  'Target URL',
                  <span className="flex flex-wrap items-start gap-2">
                    <Url url={s.target_url} className="min-w-0 flex-[1_1_12rem] pt-1.5" />
                    <CopyButton text={s.target_url} label="Copy target URL" />
                  </span>,
                  { wide: true },
                ],
                ['Source', s.source_id ? <TextLink to={`/sources/${s.source_id}`}>{sourceName}</TextLink> : sourceName],
                ['Event types', s.event_types.length ? s.event_types.join(', ') : 'Every type'],
                ['Payload filter', s.filter ? <code className="break-all font-mono text-xs">{JSON.stringify(s.filter)}</code> : 'Every payload'],
                ['Attempts', `up to ${s.max_attempts}, ${formatMs(s.timeout_ms)} timeout`],
                ['Rate limit', `${s.rate_limit_per_sec}/s`],
                ...(s.held_count !== undefined ? [['Held', String(s.held_count)] as [string, string]] : []),
                ['Updated', formatTime(s.updated_at)],
              ]}
            />
            <QuickStats id={s.id} />
          </Card>
          <Card title="Signing key">
            <SecretPanel subscription={s} revealAtFirst={justCreated} />
          </Card>
        </div>
        <TestEventCard subscription={s} />
        <RecentDeliveries subscription={s} />
        <ReplayRangeCard subscription={s} />
        <Card title="Settings">
          <SubscriptionForm
            key={s.id}
            initial={toForm(s)}
            submitLabel="Save changes"
            pending={update.isPending}
            error={update.error}
            onSubmit={(input) => update.mutate(input)}
          />
          {update.isSuccess && !update.isPending && (
            <div className="mt-3">
              <Notice>Changes saved.</Notice>
            </div>
          )}
        </Card>
      </div>
    </>
  )
}

function QuickStats({ id }: { id: string }) {
  const [stats] = useSubscriptionsStats([id], '24h')
  if (!stats?.data) return null
  const d = stats.data
  return (
    <p className="mt-3 border-t border-slate-100 pt-3 text-sm text-slate-600">
      {d.total === 0
        ? 'No attempts in the last 24 h.'
        : `Last 24 h: ${d.total} attempt${d.total === 1 ? '' : 's'}, ${formatPercent(d.success_rate)} succeeded, ${d.dead} dead, p95 ${formatMs(d.latency_ms?.p95)}.`}
    </p>
  )
}

/** Publishes a `warren.test` event that reaches this subscription. */
function TestEventCard({ subscription: s }: { subscription: Subscription }) {
  const publish = usePublishEvent()
  const reachable = takesEventType(s.event_types, TEST_EVENT_TYPE)
  const send = () =>
    publish.mutate({
      event_type: TEST_EVENT_TYPE,
      // The filter's fields last: the payload contains the filter, so the test reaches it.
      payload: { test: true, subscription_id: s.id, sent_at: new Date().toISOString(), ...(s.filter ?? {}) },
      ...(s.source_id ? { source_id: s.source_id } : {}),
    })
  return (
    <Card title="Test event">
      <div className="flex flex-col gap-3 sm:flex-row sm:items-center">
        <Button variant="primary" onClick={send} disabled={publish.isPending}>
          Send test event
        </Button>
        <p className="text-sm text-slate-600">
          Publishes a <code>{TEST_EVENT_TYPE}</code> event{s.source_id ? ' from this subscription’s source' : ''}; other subscriptions that take it get it too.
        </p>
      </div>
      {!reachable && (
        <p className="mt-2 text-sm text-amber-800">
          This subscription only takes {s.event_types.join(', ')}, so it will not get <code>{TEST_EVENT_TYPE}</code>. Add it to Event types to test.
        </p>
      )}
      <div className="mt-2">
        <ErrorMessage error={publish.error} title="Could not send" />
        {publish.data && (
          <Notice>
            Test event sent to {publish.data.deliveries} subscription{publish.data.deliveries === 1 ? '' : 's'}.{' '}
            <TextLink to={`/events/${publish.data.id}`}>View event</TextLink> · <TextLink to="/live">Watch the live log</TextLink>
          </Notice>
        )}
      </div>
    </Card>
  )
}

const STATUS_OPTIONS = [{ value: '', label: 'Any status' }, ...DELIVERY_STATUSES.map((status) => ({ value: status, label: status }))]

/** The latest deliveries, of one status or all; read again while held ones come in or go out unseen. */
function RecentDeliveries({ subscription: s }: { subscription: Subscription }) {
  const { id } = s
  const [status, setStatus] = useState('')
  const deliveries = useSubscriptionDeliveries(id, status || undefined, { refetchInterval: holdsDeliveries(s) ? HELD_REFRESH_MS : false })
  return (
    <Card title="Recent deliveries" actions={<TextLink to={`/live?subscription_id=${id}`}>Live log</TextLink>}>
      <SelectField label="Status" className="mb-3 sm:max-w-48" value={status} onChange={(e) => setStatus(e.target.value)} options={STATUS_OPTIONS} />
      {deliveries.isPending ? (
        <Loading label="Loading deliveries…" />
      ) : deliveries.isError ? (
        <ErrorMessage error={deliveries.error} title="Could not load deliveries" />
      ) : deliveries.data.data.length === 0 ? (
        <EmptyState title={status ? `No ${status} deliveries.` : 'No deliveries yet.'} />
      ) : (
        <ul aria-label="Deliveries" className="divide-y divide-slate-100">
          {deliveries.data.data.map((d) => (
            <li key={d.id} className="flex flex-wrap items-center gap-x-4 gap-y-1 py-2 text-sm">
              <Badge value={d.status} />
              <Link to={`/deliveries/${d.id}`} className="min-w-0 break-all font-mono text-xs text-teal-800 hover:underline">
                {d.id}
              </Link>
              <span className="text-slate-600">
                {d.attempt_count} attempt{d.attempt_count === 1 ? '' : 's'}
                {d.last_status_code || d.last_error_kind ? ` · ${describeAnswer(d.last_status_code, d.last_error_kind)}` : ''}
              </span>
              <span className="text-slate-500">{formatTime(d.updated_at ?? d.created_at)}</span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  )
}
