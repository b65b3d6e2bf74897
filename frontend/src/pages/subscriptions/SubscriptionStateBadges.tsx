import type { Subscription } from '../../api'
import { Badge } from '../../components/ui'

/** Active or disabled, and the circuit when it is not closed. */
export function SubscriptionStateBadges({ subscription }: { subscription: Subscription }) {
  return (
    <span className="inline-flex flex-wrap gap-1">
      <Badge value={subscription.is_active ? 'active' : 'disabled'} />
      {subscription.circuit_state !== 'closed' && <Badge value={subscription.circuit_state} className="capitalize" />}
    </span>
  )
}
