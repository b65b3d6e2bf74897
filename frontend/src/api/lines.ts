// FIFO lines: the head of an ordered subscription, what waits behind it, and putting a line
// that paused on a dead head back in motion (docs/ordering.md).
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, ApiError } from './client'
import { keys } from './keys'
import type { SubscriptionLine } from './types'

/** How often an open line is asked again: a head can move several times a second. */
export const LINE_REFRESH_MS = 2_000

export function fetchSubscriptionLine(id: string): Promise<SubscriptionLine> {
  return api<SubscriptionLine>(`/subscriptions/${id}/line`)
}

/** `GET /subscriptions/{id}/line`, every 2 s while it is shown (not after a 4xx: it will not heal). */
export function useSubscriptionLine(id: string, { enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: keys.subscriptionLine(id),
    queryFn: () => fetchSubscriptionLine(id),
    enabled,
    refetchInterval: (query) => {
      const error = query.state.error
      return error instanceof ApiError && error.status >= 400 && error.status < 500 ? false : LINE_REFRESH_MS
    },
  })
}

/**
 * Replay (`POST /dead-letters/{id}/replay`) or discard (`DELETE /dead-letters/{id}`) the dead
 * head a line paused on; either restarts the line. The mutation stays pending until the line
 * is read again, so its buttons cannot be pressed twice for the same head.
 */
function useLineHeadMutation(subscriptionId: string, call: (deliveryId: string) => Promise<unknown>) {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: call,
    onSuccess: (_, deliveryId) => {
      queryClient.invalidateQueries({ queryKey: keys.allDeadLetters })
      queryClient.invalidateQueries({ queryKey: keys.delivery(deliveryId) })
      queryClient.invalidateQueries({ queryKey: ['subscriptions', subscriptionId, 'deliveries'] })
      return queryClient.invalidateQueries({ queryKey: keys.subscriptionLine(subscriptionId) })
    },
  })
}

/** The dead head goes back to the front of its line and is tried again. */
export function useReplayLineHead(subscriptionId: string) {
  return useLineHeadMutation(subscriptionId, (deliveryId) =>
    api<unknown>(`/dead-letters/${deliveryId}/replay`, { method: 'POST' }),
  )
}

/** The dead head is dropped; the delivery behind it becomes the head. */
export function useDiscardLineHead(subscriptionId: string) {
  return useLineHeadMutation(subscriptionId, (deliveryId) =>
    api<void>(`/dead-letters/${deliveryId}`, { method: 'DELETE' }),
  )
}
