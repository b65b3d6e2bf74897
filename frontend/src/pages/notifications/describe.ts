// What a notification says, in words: the text around the subscription's name (which the page
// links), and the labels of the types a channel can choose.
import type { NotificationType, WarrenNotification } from '../../api'

/** The channel form's checkbox for each type: a label and what it means. */
export const TYPE_LABELS: Record<NotificationType, { label: string; means: string }> = {
  'subscription.failing': { label: 'Failing', means: 'under half of at least 10 attempts in 15 minutes succeeded' },
  'subscription.circuit_opened': { label: 'Circuit opened', means: 'the target kept failing, so Warren holds attempts back' },
  'subscription.disabled': { label: 'Disabled by Warren', means: 'a 410, or a long run of failures; new events are held' },
  'subscription.recovered': { label: 'Recovered', means: 'its circuit closed again, or it was enabled again' },
  'delivery.dead': { label: 'Delivery dead', means: 'a delivery ran out of attempts' },
}

/** The sentence of a notification: `before` + the subscription + `after`, or `whole` when it names no subscription. */
export function describeNotification(n: Pick<WarrenNotification, 'type' | 'data'>): { before: string; after: string; whole?: string } {
  const reason = typeof n.data?.reason === 'string' && n.data.reason ? `: ${n.data.reason}` : ''
  switch (n.type) {
    case 'subscription.failing':
      return { before: '', after: ' is failing: under half of its recent attempts succeeded.' }
    case 'subscription.circuit_opened':
      return { before: 'The circuit of ', after: ' opened: its target kept failing.' }
    case 'subscription.disabled':
      return { before: '', after: ` was disabled by Warren${reason}. New events are held until you resume it.` }
    case 'subscription.recovered':
      return { before: '', after: ' recovered: it delivers again.' }
    case 'delivery.dead':
      return { before: 'A delivery to ', after: ' ran out of attempts and went to the dead letters.' }
    case 'notification.test':
      return { before: '', after: '', whole: 'A test notification, sent from Notification settings.' }
    default:
      return { before: `${n.type} on `, after: `${reason}.` }
  }
}

/** How many occurrences one notification stands for (after the no-storm interval); 1 when not said. */
export function occurrences(n: Pick<WarrenNotification, 'data'>): number {
  const count = Number(n.data?.count)
  return Number.isFinite(count) && count > 1 ? Math.floor(count) : 1
}
