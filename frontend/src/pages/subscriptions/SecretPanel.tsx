// The signing key: an HMAC secret hidden until asked for, or an Ed25519 public key shown
// as is; copyable, and rotatable.
import { useState } from 'react'
import { useRotateSecret, type Subscription } from '../../api'
import { Button, CopyButton, ErrorMessage, Notice } from '../../components/ui'

export function SecretPanel({ subscription, revealAtFirst = false }: { subscription: Subscription; revealAtFirst?: boolean }) {
  const [revealed, setRevealed] = useState(revealAtFirst)
  const rotate = useRotateSecret(subscription.id)
  const current = rotate.data ?? subscription
  const publicKey = current.public_key ?? null
  const secret = current.signing_secret ?? ''
  const what = publicKey ? 'key' : 'secret'

  const onRotate = () => {
    if (!window.confirm(`Rotate the signing ${what}? The old one keeps signing alongside the new one for 24 hours.`)) return
    rotate.mutate(undefined, { onSuccess: () => setRevealed(true) })
  }

  return (
    <div className="flex flex-col gap-3">
      <div className="flex flex-col gap-2 sm:flex-row sm:items-center">
        {publicKey ? (
          <code className="min-w-0 flex-1 break-all rounded bg-slate-100 px-2 py-1.5 text-xs" aria-label="Public key">
            {publicKey}
          </code>
        ) : (
          <code className="min-w-0 flex-1 break-all rounded bg-slate-100 px-2 py-1.5 text-xs" aria-label="Signing secret">
            {revealed ? secret : `${secret.slice(0, 6)}${'•'.repeat(24)}`}
          </code>
        )}
        <div className="flex flex-wrap gap-2">
          {!publicKey && <Button onClick={() => setRevealed((r) => !r)}>{revealed ? 'Hide secret' : 'Reveal secret'}</Button>}
          <CopyButton text={publicKey ?? secret} label={publicKey ? 'Copy public key' : 'Copy secret'} />
          <Button variant="danger" onClick={onRotate} disabled={rotate.isPending}>
            Rotate {what}
          </Button>
        </div>
      </div>
      <ErrorMessage error={rotate.error} title="Could not rotate" />
      {rotate.isSuccess && (
        <Notice>New {what} in use. Receivers see both signatures for 24 hours; update them before then.</Notice>
      )}
      <p className="text-xs text-slate-500">
        {publicKey
          ? 'Every request carries webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks, v1a Ed25519); verify them with this public key.'
          : 'Every request carries webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks); verify them with this secret.'}
      </p>
    </div>
  )
}
