// Events: search, read, publish and replay.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import { keys } from './keys'
import type { Accepted, EventFilters, EventSummary, Page, PublishInput, ReplayRangeInput, WarrenEvent } from './types'

/** `GET /events` with filters, a page at a time (`fetchNextPage` follows `next_cursor`). */
export function useEvents(filters: EventFilters, limit = 50) {
  return useInfiniteQuery({
    queryKey: keys.events(filters),
    queryFn: ({ pageParam }) =>
      api<Page<EventSummary>>('/events', { query: { ...filters, limit, cursor: pageParam } }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  })
}

/** One event with its payload and deliveries. */
export function useEvent(id: string | undefined, options: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: keys.event(id ?? ''),
    queryFn: () => api<WarrenEvent>(`/events/${id}`),
    enabled: Boolean(id) && (options.enabled ?? true),
    staleTime: 5 * 60_000,
  })
}

/** The publish API: `POST /events`. */
export function usePublishEvent() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (input: PublishInput) => api<Accepted>('/events', { method: 'POST', body: input }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.allEvents }),
  })
}

/** `POST /events/{id}/replay` to every matching subscription, or one. */
export function useReplayEvent(eventId: string) {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (subscriptionId: string | null) =>
      api<unknown>(`/events/${eventId}/replay`, {
        method: 'POST',
        body: subscriptionId ? { subscription_id: subscriptionId } : {},
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.event(eventId) }),
  })
}

/**
 * `POST /events/replay`: one new delivery to the subscription for each event of the time
 * range it matches (a backfill, or a recovery after an outage).
 */
export function useReplayTimeRange() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (input: ReplayRangeInput) =>
      api<{ replayed: number }>('/events/replay', { method: 'POST', body: input }),
    onSuccess: (_, input) => queryClient.invalidateQueries({ queryKey: ['subscriptions', input.subscription_id, 'deliveries'] }),
  })
}
