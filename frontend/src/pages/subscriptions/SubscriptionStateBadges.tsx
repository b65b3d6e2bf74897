import type { Subscription } from '../../api'
import { Badge } from '../../components/ui'

/** Whether it is paused by its owner (`disabled_reason: paused`) or disabled by Warren. */
export const isPaused = (s: Subscription) => !s.is_active && s.disabled_reason === 'paused'

/** How many deliveries it holds, or is releasing now that it is active again ('' for none). */
export function heldText(s: Subscription): string {
  const held = s.held_count ?? 0
  if (held <= 0) return ''
  return s.is_active ? `Releasing ${held} held` : `${held} held`
}

/** Active, paused or disabled; the deliveries it holds or is releasing; the circuit when it is not closed. */
export function SubscriptionStateBadges({ subscription }: { subscription: Subscription }) {
  const held = heldText(subscription)
  return (
    <span className="inline-flex flex-wrap gap-1">
      <Badge value={subscription.is_active ? 'active' : isPaused(subscription) ? 'paused' : 'disabled'} />
      {held && <Badge value={subscription.is_active ? 'releasing' : 'held'} label={held} />}
      {subscription.circuit_state !== 'closed' && <Badge value={subscription.circuit_state} className="capitalize" />}
    </span>
  )
}
