// Invites: signup on this Warren is by invite (unless the operator opened it). The operator
// invites an email and hands the person the link, which is shown once, right after; the list
// shows every invite (open, used or expired) and revokes an open one.
import { useState, type FormEvent } from 'react'
import { ApiError, useCreateInvite, useInvites, useRevokeInvite, type CreatedInvite, type Invite } from '../../api'
import { Badge, Button, Card, CopyButton, EmptyState, ErrorMessage, Loading, Notice, TextField } from '../../components/ui'
import { formatTime } from '../../lib/format'
import { inviteLink } from '../../lib/invite'

/** Where this web app is served: Warren's own origin, which the link leads back to. */
const origin = () => globalThis.location?.origin ?? ''

export function InvitesPage() {
  const [created, setCreated] = useState<CreatedInvite | null>(null)
  return (
    <div className="flex flex-col gap-4">
      <Card title="New invite">
        <InviteForm onCreated={setCreated} />
        {created && (
          <div className="mt-3">
            <CreatedNotice invite={created} />
          </div>
        )}
      </Card>
      <Card title="Invites">
        <InviteList />
      </Card>
    </div>
  )
}

function InviteForm({ onCreated }: { onCreated: (invite: CreatedInvite) => void }) {
  const [email, setEmail] = useState('')
  const create = useCreateInvite()
  const fieldErrors = create.error instanceof ApiError ? create.error.fieldErrors() : {}
  const general = create.error && !(create.error instanceof ApiError && create.error.errors.length) ? create.error : null

  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate(email.trim(), {
      onSuccess: (invite) => {
        setEmail('')
        onCreated(invite)
      },
    })
  }

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-3 sm:flex-row sm:items-start">
      <TextField className="sm:w-80" label="Email" type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} error={fieldErrors.email} required />
      <div className="flex flex-col gap-2 sm:pt-6">
        <Button type="submit" variant="primary" disabled={create.isPending}>
          Create invite
        </Button>
      </div>
      <ErrorMessage error={general} title="Could not create the invite" />
    </form>
  )
}

/** The invite's link and token: shown this once (Warren keeps only a hash of the token). */
function CreatedNotice({ invite }: { invite: CreatedInvite }) {
  const link = inviteLink(origin(), invite)
  return (
    <Notice>
      <p>
        Invite for <strong>{invite.email}</strong> created. Send them this link; it is shown only now and works once, until {formatTime(invite.expires_at)}.
      </p>
      <div className="mt-2 flex flex-col gap-2 sm:flex-row sm:items-center">
        <code className="min-w-0 flex-1 break-all rounded bg-white px-2 py-1.5 text-xs text-slate-900" aria-label="Invite link" data-invite-link>
          {link}
        </code>
        <CopyButton text={link} label="Copy link" />
      </div>
      <div className="mt-2 flex flex-col gap-2 sm:flex-row sm:items-center">
        <code className="min-w-0 flex-1 break-all rounded bg-white px-2 py-1.5 text-xs text-slate-900" aria-label="Invite token">
          {invite.token}
        </code>
        <CopyButton text={invite.token} label="Copy token" />
      </div>
    </Notice>
  )
}

type InviteState = 'open' | 'used' | 'expired'

/** Used, expired (by the clock here; Warren checks again at signup), or still open. */
export function inviteState(invite: Invite, now = Date.now()): InviteState {
  if (invite.used_at) return 'used'
  return new Date(invite.expires_at).getTime() <= now ? 'expired' : 'open'
}

const STATE_BADGE: Record<InviteState, string> = { open: 'active', used: 'succeeded', expired: 'disabled' }

function InviteList() {
  const invites = useInvites()
  const revoke = useRevokeInvite()
  const onRevoke = (invite: Invite) => {
    if (window.confirm(`Revoke the invite for ${invite.email}? Its link stops working.`)) revoke.mutate(invite.id)
  }
  if (invites.isPending) return <Loading label="Loading invites…" />
  if (invites.isError) return <ErrorMessage error={invites.error} title="Could not load invites" />
  if (invites.data.length === 0) return <EmptyState title="No invites yet." />
  return (
    <>
      <ErrorMessage error={revoke.error} title="Could not revoke" />
      <ul aria-label="Invites" className="divide-y divide-slate-100">
        {invites.data.map((invite) => {
          const state = inviteState(invite)
          return (
            <li key={invite.id} className="flex flex-col gap-2 py-2 sm:flex-row sm:items-center sm:justify-between">
              <div className="min-w-0 text-sm">
                <p className="flex flex-wrap items-center gap-2">
                  <span className="break-all font-medium text-slate-900">{invite.email}</span>
                  <Badge value={STATE_BADGE[state]} label={state} />
                </p>
                <p className="text-xs text-slate-500">
                  {state === 'used' ? `used ${formatTime(invite.used_at)}` : `${state === 'open' ? 'expires' : 'expired'} ${formatTime(invite.expires_at)}`}
                  {invite.created_at && ` · created ${formatTime(invite.created_at)}`}
                </p>
              </div>
              {state === 'open' && (
                <Button variant="danger" onClick={() => onRevoke(invite)} disabled={revoke.isPending}>
                  Revoke
                </Button>
              )}
            </li>
          )
        })}
      </ul>
    </>
  )
}
