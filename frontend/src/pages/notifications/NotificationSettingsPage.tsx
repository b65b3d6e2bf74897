// Where Warren tells the user that a receiver is in trouble: notification channels (signed
// webhooks and email). Create one (a webhook's signing secret is shown once, right after),
// send it a test, delete it.
import { useState } from 'react'
import {
  useDeleteNotificationChannel,
  useNotificationChannels,
  useTestNotificationChannel,
  type NotificationChannel,
} from '../../api'
import { Badge, Button, Card, CopyButton, EmptyState, ErrorMessage, Loading, Notice, PageHeader, TextLink, Url } from '../../components/ui'
import { formatTime } from '../../lib/format'
import { ChannelForm } from './ChannelForm'

export function NotificationSettingsPage() {
  const channels = useNotificationChannels()
  const [created, setCreated] = useState<NotificationChannel | null>(null)

  return (
    <>
      <PageHeader title="Notification settings">
        <TextLink to="/notifications">Notifications</TextLink>
      </PageHeader>
      <div className="flex flex-col gap-4">
        <Card title="New channel">
          <ChannelForm onCreated={setCreated} />
          {created && (
            <div className="mt-3">
              <CreatedNotice channel={created} />
            </div>
          )}
        </Card>
        <Card title="Channels">
          {channels.isPending ? (
            <Loading label="Loading channels…" />
          ) : channels.isError ? (
            <ErrorMessage error={channels.error} title="Could not load channels" />
          ) : channels.data.length === 0 ? (
            <EmptyState title="No channels yet.">Notifications show up in the app; add a channel to be told by webhook or email too.</EmptyState>
          ) : (
            <ul aria-label="Notification channels" className="divide-y divide-slate-100">
              {channels.data.map((channel) => (
                <ChannelRow key={channel.id} channel={channel} />
              ))}
            </ul>
          )}
        </Card>
      </div>
    </>
  )
}

/** Right after creation: a webhook channel's signing secret, which is never shown again. */
function CreatedNotice({ channel }: { channel: NotificationChannel }) {
  return (
    <Notice>
      <p>Channel “{channel.name}” created.</p>
      {channel.signing_secret && (
        <div className="mt-2 flex flex-col gap-2">
          <p>Give the receiver its signing secret so it can verify each notification (Standard Webhooks). It is shown only now.</p>
          <div className="flex flex-col gap-2 sm:flex-row sm:items-center">
            <code className="min-w-0 flex-1 break-all rounded bg-white px-2 py-1.5 text-xs text-slate-900" aria-label="Signing secret">
              {channel.signing_secret}
            </code>
            <CopyButton text={channel.signing_secret} label="Copy secret" />
          </div>
        </div>
      )}
    </Notice>
  )
}

function ChannelRow({ channel: c }: { channel: NotificationChannel }) {
  const test = useTestNotificationChannel()
  const remove = useDeleteNotificationChannel()
  const onDelete = () => {
    if (window.confirm(`Delete the channel “${c.name}”? It gets no more notifications.`)) remove.mutate(c.id)
  }
  return (
    <li className="flex flex-col gap-2 py-3 md:flex-row md:items-center md:justify-between" data-channel-id={c.id}>
      <div className="min-w-0 text-sm">
        <p className="flex flex-wrap items-center gap-2">
          <span className="font-medium text-slate-900">{c.name}</span>
          <Badge value={c.kind} />
        </p>
        <p className="text-slate-600">{c.kind === 'email' ? <span className="break-all font-mono text-xs">{c.email}</span> : <Url url={c.target_url ?? ''} />}</p>
        <p className="text-xs text-slate-500">
          {c.types?.length ? c.types.join(', ') : 'Every type'} · created {formatTime(c.created_at)}
        </p>
        <div className="mt-1 flex flex-col gap-1">
          <ErrorMessage error={test.error} title="Could not send a test" />
          <ErrorMessage error={remove.error} title="Could not delete" />
          {test.isSuccess && !test.isPending && <Notice>Test sent: look for a notification.test at the {c.kind === 'email' ? 'address' : 'target URL'}.</Notice>}
        </div>
      </div>
      <div className="flex gap-2">
        <Button onClick={() => test.mutate(c.id)} disabled={test.isPending}>
          Send test
        </Button>
        <Button variant="danger" onClick={onDelete} disabled={remove.isPending}>
          Delete
        </Button>
      </div>
    </li>
  )
}
