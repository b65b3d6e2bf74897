// What Warren told the user about their receivers, newest first: what happened to which
// subscription (and how many times), which are unread, and Mark all read.
import { Link } from 'react-router-dom'
import { useMarkNotificationsRead, useNotifications, useSubscriptions, type Subscription, type WarrenNotification } from '../../api'
import { Badge, Button, ButtonLink, Card, EmptyState, ErrorMessage, LoadMore, Loading, PageHeader, cx } from '../../components/ui'
import { formatTime } from '../../lib/format'
import { describeNotification, occurrences } from './describe'

export function NotificationsPage() {
  const notifications = useNotifications()
  const subscriptions = useSubscriptions()
  const markRead = useMarkNotificationsRead()
  const pages = notifications.data?.pages ?? []
  const rows = pages.flatMap((p) => p.data)
  const unread = pages[0]?.unread ?? rows.filter((n) => n.read === false).length

  return (
    <>
      <PageHeader title="Notifications">
        {/* Up to the newest shown: one that arrives meanwhile stays unread until it is seen. */}
        <Button variant="primary" onClick={() => markRead.mutate(rows[0]?.id)} disabled={markRead.isPending || unread === 0}>
          Mark all read
        </Button>
        <ButtonLink to="/notifications/settings">Notification settings</ButtonLink>
      </PageHeader>
      <div className="flex flex-col gap-4">
        <ErrorMessage error={markRead.error} title="Could not mark them read" />
        <Card>
          {notifications.isSuccess && (
            <p className="mb-3 text-sm text-slate-600" role="status">
              {unread === 0 ? 'Nothing unread.' : `${unread} unread.`}
            </p>
          )}
          {notifications.isPending ? (
            <Loading label="Loading notifications…" />
          ) : notifications.isError && rows.length === 0 ? (
            <ErrorMessage error={notifications.error} title="Could not load notifications" />
          ) : rows.length === 0 ? (
            <EmptyState title="No notifications yet.">
              Warren tells you here (and on your <Link className="text-teal-800 underline" to="/notifications/settings">channels</Link>) when a
              subscription starts failing, opens its circuit, is disabled, recovers, or loses a delivery to the dead letters.
            </EmptyState>
          ) : (
            <>
              <ul aria-label="Notifications" className="divide-y divide-slate-100">
                {rows.map((n) => (
                  <NotificationRow key={n.id} notification={n} subscriptions={subscriptions.data} />
                ))}
              </ul>
              <ErrorMessage error={notifications.isError ? notifications.error : null} title="Could not load more" />
              <LoadMore hasMore={notifications.hasNextPage} loading={notifications.isFetchingNextPage} onClick={() => notifications.fetchNextPage()} />
            </>
          )}
        </Card>
      </div>
    </>
  )
}

function NotificationRow({ notification: n, subscriptions }: { notification: WarrenNotification; subscriptions?: Subscription[] }) {
  const { before, after, whole } = describeNotification(n)
  const count = occurrences(n)
  const subscription = subscriptions?.find((s) => s.id === n.subscription_id)
  const deliveryId = typeof n.data?.delivery_id === 'string' ? n.data.delivery_id : null
  const unread = n.read === false
  return (
    <li className={cx('flex flex-col gap-1 py-3 text-sm sm:flex-row sm:items-start sm:justify-between sm:gap-4', unread && 'font-medium')} data-notification-id={n.id}>
      <div className="min-w-0">
        <p className="text-slate-800">
          {unread && <Badge value="unread" label="New" className="mr-2 align-middle" />}
          {whole}
          {!whole && before}
          {whole ? null : n.subscription_id ? (
            <Link to={`/subscriptions/${n.subscription_id}`} className="text-teal-800 hover:underline">
              {subscription?.name ?? n.subscription_id}
            </Link>
          ) : (
            'a subscription'
          )}
          {after}
          {count > 1 && <span className="ml-1 text-amber-800">({count} times)</span>}
        </p>
        <p className="mt-0.5 flex flex-wrap gap-x-3 text-xs font-normal text-slate-500">
          <code>{n.type}</code>
          {deliveryId && (
            <Link to={`/deliveries/${deliveryId}`} className="text-teal-800 hover:underline">
              View delivery
            </Link>
          )}
        </p>
      </div>
      <time className="shrink-0 text-xs font-normal text-slate-500" dateTime={n.at}>
        {formatTime(n.at)}
      </time>
    </li>
  )
}
