// Subscriptions: where events go, and how they are doing.
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, fetchAll } from './client'
import { keys } from './keys'
import type { DeliverySummary, Page, Stats, StatsWindow, Subscription, SubscriptionInput } from './types'

/** Every subscription of the user (all pages). */
export function useSubscriptions() {
  return useQuery({
    queryKey: keys.subscriptions,
    queryFn: () => fetchAll<Subscription>('/subscriptions'),
  })
}

export function useSubscription(id: string) {
  return useQuery({
    queryKey: keys.subscription(id),
    queryFn: () => api<Subscription>(`/subscriptions/${id}`),
  })
}

function useSubscriptionMutation<TVars, TResult>(
  mutationFn: (vars: TVars) => Promise<TResult>,
) {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.subscriptions }),
  })
}

export function useCreateSubscription() {
  return useSubscriptionMutation((input: SubscriptionInput) =>
    api<Subscription>('/subscriptions', { method: 'POST', body: input }),
  )
}

/** `PATCH /subscriptions/{id}` with the fields given. */
export function useUpdateSubscription(id: string) {
  return useSubscriptionMutation((patch: Partial<SubscriptionInput>) =>
    api<Subscription>(`/subscriptions/${id}`, { method: 'PATCH', body: patch }),
  )
}

export function useDeleteSubscription() {
  return useSubscriptionMutation((id: string) =>
    api<void>(`/subscriptions/${id}`, { method: 'DELETE' }),
  )
}

export function useRotateSecret(id: string) {
  return useSubscriptionMutation(() =>
    api<{ signing_secret: string | null; public_key?: string | null }>(`/subscriptions/${id}/rotate-secret`, { method: 'POST' }),
  )
}

/** `POST /subscriptions/{id}/enable`: re-enables it and closes its circuit. */
export function useEnableSubscription() {
  return useSubscriptionMutation((id: string) =>
    api<Subscription>(`/subscriptions/${id}/enable`, { method: 'POST' }),
  )
}

/** The latest deliveries of one subscription. */
export function useSubscriptionDeliveries(id: string, status?: string) {
  return useQuery({
    queryKey: keys.subscriptionDeliveries(id, status),
    queryFn: () =>
      api<Page<DeliverySummary>>(`/subscriptions/${id}/deliveries`, {
        query: { limit: 20, status },
      }),
  })
}

/** The stats of each subscription over one window, refreshed every 30 s. */
export function useSubscriptionsStats(ids: string[], window: StatsWindow) {
  return useQueries({
    queries: ids.map((id) => ({
      queryKey: keys.stats(id, window),
      queryFn: () => api<Stats>(`/subscriptions/${id}/stats`, { query: { window } }),
      refetchInterval: 30_000,
    })),
  })
}
