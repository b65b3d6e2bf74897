// Deliveries: one event on its way to one subscription.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import { keys } from './keys'
import type { Delivery, DeliveryStatus } from './types'

/**
 * Whether Retry means something for a delivery in this status: a dead one starts a new round
 * of attempts, a waiting one (pending, retrying) is attempted now. A succeeded one has nothing
 * to retry (the API would send it again), and a held or discarded one follows its
 * subscription's resume, not a retry.
 */
export function canRetry(status: DeliveryStatus): boolean {
  return status === 'dead' || status === 'pending' || status === 'retrying'
}

/** One delivery with its attempts; polls while it still has attempts to come. */
export function useDelivery(id: string) {
  return useQuery({
    queryKey: keys.delivery(id),
    queryFn: () => api<Delivery>(`/deliveries/${id}`),
    refetchInterval: (query) => {
      const status = query.state.data?.status
      return status === 'pending' || status === 'retrying' ? 5_000 : false
    },
  })
}

/** `POST /deliveries/{id}/retry`: back to pending, attempts kept. */
export function useRetryDelivery() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => api<unknown>(`/deliveries/${id}/retry`, { method: 'POST' }),
    onSuccess: (_, id) => {
      queryClient.invalidateQueries({ queryKey: keys.delivery(id) })
      queryClient.invalidateQueries({ queryKey: keys.allDeadLetters })
    },
  })
}
