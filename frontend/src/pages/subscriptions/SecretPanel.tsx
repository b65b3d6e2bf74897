// The signing key: an HMAC secret hidden until asked for, or a public key (Ed25519's whpk_,
// RSA's PEM) shown as is; copyable, and rotatable to a key of the same kind or another.
import { useState } from 'react'
import { useRotateSecret, type SigningAlgorithm, type Subscription } from '../../api'
import { Button, CopyButton, ErrorMessage, Notice, SelectField } from '../../components/ui'
import { SIGNING_ALGORITHMS, signingAlgorithmOptions } from './signingAlgorithms'

export function SecretPanel({ subscription, revealAtFirst = false }: { subscription: Subscription; revealAtFirst?: boolean }) {
  const [revealed, setRevealed] = useState(revealAtFirst)
  const rotate = useRotateSecret(subscription.id)
  const current = rotate.data ?? subscription
  const publicKey = current.public_key ?? null
  const algorithm: SigningAlgorithm = current.signing_algorithm ?? (publicKey ? 'ed25519' : 'hmac_sha256')
  const [next, setNext] = useState<SigningAlgorithm>(algorithm)
  const secret = current.signing_secret ?? ''
  const what = publicKey ? 'key' : 'secret'

  const onRotate = () => {
    const kind = next === algorithm ? `signing ${what}` : `signing key to ${SIGNING_ALGORITHMS[next].label}`
    if (!window.confirm(`Rotate the ${kind}? The old one keeps signing alongside the new one for 24 hours.`)) return
    rotate.mutate(next === algorithm ? undefined : next, { onSuccess: () => setRevealed(true) })
  }

  return (
    <div className="flex flex-col gap-3">
      <p className="text-sm text-slate-600">
        Algorithm: <span className="font-medium text-slate-900">{SIGNING_ALGORITHMS[algorithm].label}</span>
      </p>
      <div className="flex flex-col gap-2 sm:flex-row sm:items-center">
        {publicKey ? (
          <pre className="min-w-0 flex-1 whitespace-pre-wrap break-all rounded bg-slate-100 px-2 py-1.5 text-xs" aria-label="Public key">
            {publicKey}
          </pre>
        ) : (
          <code className="min-w-0 flex-1 break-all rounded bg-slate-100 px-2 py-1.5 text-xs" aria-label="Signing secret">
            {revealed ? secret : `${secret.slice(0, 6)}${'•'.repeat(24)}`}
          </code>
        )}
        <div className="flex flex-wrap gap-2">
          {!publicKey && <Button onClick={() => setRevealed((r) => !r)}>{revealed ? 'Hide secret' : 'Reveal secret'}</Button>}
          <CopyButton text={publicKey ?? secret} label={publicKey ? 'Copy public key' : 'Copy secret'} />
        </div>
      </div>
      <div className="flex flex-col gap-2 sm:flex-row sm:items-end">
        <SelectField
          label="New key’s algorithm"
          className="sm:w-56"
          value={next}
          onChange={(e) => setNext(e.target.value as SigningAlgorithm)}
          options={signingAlgorithmOptions}
        />
        <Button variant="danger" onClick={onRotate} disabled={rotate.isPending}>
          Rotate {what}
        </Button>
      </div>
      <ErrorMessage error={rotate.error} title="Could not rotate" />
      {rotate.isSuccess && (
        <Notice>New {what} in use. Receivers see both signatures for 24 hours; update them before then.</Notice>
      )}
      <p className="text-xs text-slate-500">
        Every request carries webhook-id, webhook-timestamp and webhook-signature, with {SIGNING_ALGORITHMS[algorithm].verify}
      </p>
    </div>
  )
}
