// Why a subscription is not delivering (paused by its owner, disabled by Warren, its circuit
// open) or what it is catching up on (releasing held deliveries), with the action that fixes it:
// Resume, choosing what happens to the held deliveries, or Re-enable for an open circuit.
import { useState, type FormEvent } from 'react'
import { useEnableSubscription, type HeldChoice, type Subscription } from '../../api'
import { Button, ChoiceField, ErrorMessage } from '../../components/ui'
import { isPaused } from './SubscriptionStateBadges'

const banner =
  'flex flex-col gap-2 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 sm:flex-row sm:items-center sm:justify-between'

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

export function StateBanner({ subscription: s }: { subscription: Subscription }) {
  const held = s.held_count ?? 0
  if (!s.is_active) return <InactiveBanner subscription={s} />
  if (held > 0) {
    return (
      <div role="status" className="rounded-md border border-sky-200 bg-sky-50 px-3 py-2 text-sm text-sky-900">
        Releasing {plural(held, 'held delivery', 'held deliveries')}: they go out in the order they arrived, within the rate limit.
      </div>
    )
  }
  if (s.circuit_state !== 'closed') return <CircuitBanner subscription={s} />
  return null
}

function InactiveBanner({ subscription: s }: { subscription: Subscription }) {
  const held = s.held_count ?? 0
  const why = isPaused(s) ? 'Paused.' : `Disabled${s.disabled_reason ? `: ${s.disabled_reason}` : ''}.`
  return (
    <div role="status" className={banner}>
      <div className="flex flex-col gap-1">
        <span>
          {why} New events are held, not delivered, until it is resumed.
        </span>
        {s.held_count !== undefined && <span className="font-medium">{held === 0 ? 'Nothing held yet.' : `${plural(held, 'delivery', 'deliveries')} held.`}</span>}
      </div>
      <ResumeForm subscription={s} />
    </div>
  )
}

/** Resume: the held deliveries are delivered (the default) or discarded. */
function ResumeForm({ subscription: s }: { subscription: Subscription }) {
  const enable = useEnableSubscription()
  const [held, setHeld] = useState<HeldChoice>('deliver')
  const count = s.held_count ?? 0

  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (held === 'discard' && count > 0 && !window.confirm(`Discard ${plural(count, 'held delivery', 'held deliveries')}? They are never sent.`)) return
    enable.mutate({ id: s.id, held })
  }

  return (
    <form onSubmit={submit} className="flex flex-col gap-2 sm:items-end">
      {count > 0 && (
        <fieldset className="flex flex-col gap-1">
          <legend className="text-xs font-medium text-amber-900">Held deliveries</legend>
          <ChoiceField type="radio" name="held" value="deliver" label="Deliver held" checked={held === 'deliver'} onChange={() => setHeld('deliver')} />
          <ChoiceField type="radio" name="held" value="discard" label="Discard held" checked={held === 'discard'} onChange={() => setHeld('discard')} />
        </fieldset>
      )}
      <Button type="submit" variant="primary" disabled={enable.isPending}>
        Resume
      </Button>
      <ErrorMessage error={enable.error} title="Could not resume" />
    </form>
  )
}

/** Active, but its circuit is open or half open: enabling closes it. */
function CircuitBanner({ subscription: s }: { subscription: Subscription }) {
  const enable = useEnableSubscription()
  return (
    <div role="status" className={banner}>
      <span>
        {s.circuit_state === 'open'
          ? 'The circuit is open: the target kept failing, so deliveries are held back.'
          : 'The circuit is half open: Warren is trying the target again.'}
      </span>
      <div className="flex flex-col gap-1">
        <Button variant="primary" onClick={() => enable.mutate({ id: s.id })} disabled={enable.isPending}>
          Re-enable
        </Button>
        <ErrorMessage error={enable.error} />
      </div>
    </div>
  )
}
