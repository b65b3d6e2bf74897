// Keeps cached data fresh from socket events, so open pages update without a reload, and
// notices when the server ends the live connection because the session ended.
import { useQueryClient } from '@tanstack/react-query'
import { useEffect } from 'react'
import { keys } from './keys'
import { useWarrenSocket, type SocketState } from './socket'

export function useLiveCacheSync(): SocketState {
  const queryClient = useQueryClient()
  const state = useWarrenSocket({
    'delivery.attempt': (m) => {
      queryClient.invalidateQueries({ queryKey: keys.delivery(m.delivery_id) })
      queryClient.invalidateQueries({ queryKey: keys.event(m.event_id) })
      queryClient.invalidateQueries({ queryKey: ['subscriptions', m.subscription_id, 'deliveries'] })
      queryClient.invalidateQueries({ queryKey: keys.subscriptionLine(m.subscription_id) })
      if (m.outcome === 'dead') queryClient.invalidateQueries({ queryKey: keys.allDeadLetters })
    },
    'event.received': () => {
      queryClient.invalidateQueries({ queryKey: ['events', 'list'] })
    },
    'subscription.updated': (m) => {
      queryClient.invalidateQueries({ queryKey: keys.subscriptions })
      queryClient.invalidateQueries({ queryKey: keys.subscription(m.subscription_id) })
    },
    // The in-app list and the navigation's unread badge.
    notification: () => {
      queryClient.invalidateQueries({ queryKey: keys.allNotifications })
    },
  })
  // The server ends a socket when its session ends (a logout in another tab, expiry): asking
  // who is signed in then answers 401, which ends the session here too.
  useEffect(() => {
    if (state.ended) queryClient.invalidateQueries({ queryKey: keys.me })
  }, [state.ended, queryClient])
  return state
}
