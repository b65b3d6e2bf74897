// Deliveries: one event on its way to one subscription.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import { keys } from './keys'
import type { Delivery } from './types'

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
