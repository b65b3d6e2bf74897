// Subscriptions: where events go, and how they are doing.
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, fetchAll } from './client'
import { keys } from './keys'
import type { AllStats, DeliverySummary, HeldChoice, Page, SigningAlgorithm, SigningKey, Stats, StatsWindow, Subscription, SubscriptionInput } from './types'

/**
 * How often a subscription is asked again while its held count moves: it grows with every
 * event while the subscription is not active and shrinks while they are released, and no
 * socket event says so.
 */
export const HELD_REFRESH_MS = 3_000

/** Not active (collecting held deliveries), or releasing the ones it held. */
export function holdsDeliveries(s: Pick<Subscription, 'is_active' | 'held_count'> | undefined): boolean {
  return Boolean(s && (!s.is_active || (s.held_count ?? 0) > 0))
}

/** Every subscription of the user (all pages). */
export function useSubscriptions() {
  return useQuery({
    queryKey: keys.subscriptions,
    queryFn: () => fetchAll<Subscription>('/subscriptions'),
    refetchInterval: (query) => (query.state.data?.some(holdsDeliveries) ? 10_000 : false),
  })
}

export function useSubscription(id: string) {
  return useQuery({
    queryKey: keys.subscription(id),
    queryFn: () => api<Subscription>(`/subscriptions/${id}`),
    refetchInterval: (query) => (holdsDeliveries(query.state.data) ? HELD_REFRESH_MS : false),
  })
}

function useSubscriptionMutation<TVars, TResult>(
  mutationFn: (vars: TVars) => Promise<TResult>,
) {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn,
    // Every subscription query, its deliveries and its line included.
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

/** A new signing key, of `algorithm` when given (else of the current kind); the old one keeps signing for the overlap. */
export function useRotateSecret(id: string) {
  return useSubscriptionMutation((algorithm?: SigningAlgorithm) =>
    api<SigningKey>(`/subscriptions/${id}/rotate-secret`, {
      method: 'POST',
      ...(algorithm ? { body: { signing_algorithm: algorithm } } : {}),
    }),
  )
}

/** Pause and enable answer the subscription as it now is: shown at once, then everything of it is read again. */
function useSubscriptionStateMutation<TVars>(mutationFn: (vars: TVars) => Promise<Subscription>) {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn,
    onSuccess: (subscription) => {
      if (subscription?.id) queryClient.setQueryData(keys.subscription(subscription.id), subscription)
      return queryClient.invalidateQueries({ queryKey: keys.subscriptions })
    },
  })
}

/** `POST /subscriptions/{id}/pause`: new events are held, not delivered, until it is enabled. */
export function usePauseSubscription() {
  return useSubscriptionStateMutation((id: string) =>
    api<Subscription>(`/subscriptions/${id}/pause`, { method: 'POST' }),
  )
}

/**
 * `POST /subscriptions/{id}/enable`: re-enables it and closes its circuit; what it held is
 * delivered (`deliver`, the server's default when `held` is left out) or discarded.
 */
export function useEnableSubscription() {
  return useSubscriptionStateMutation(({ id, held }: { id: string; held?: HeldChoice }) =>
    api<Subscription>(`/subscriptions/${id}/enable`, { method: 'POST', body: held ? { held } : undefined }),
  )
}

/** The latest deliveries of one subscription, of one status or all; `refetchInterval` while they move unseen. */
export function useSubscriptionDeliveries(id: string, status?: string, { refetchInterval }: { refetchInterval?: number | false } = {}) {
  return useQuery({
    queryKey: keys.subscriptionDeliveries(id, status),
    queryFn: () =>
      api<Page<DeliverySummary>>(`/subscriptions/${id}/deliveries`, {
        query: { limit: 20, status },
      }),
    refetchInterval,
  })
}

/** Every subscription's stats and backlog over one window in one call, refreshed every 15 s. */
export function useAllStats(window: StatsWindow) {
  return useQuery({
    queryKey: keys.dashboardStats(window),
    queryFn: () => api<AllStats>('/stats', { query: { window } }),
    refetchInterval: 15_000,
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
