// Notifications: where a user is told that a receiver is in trouble (channels), and what
// they were told (the in-app list and its unread count).
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, fetchAll } from './client'
import { keys } from './keys'
import type { NewNotificationChannel, NotificationChannel, NotificationPage } from './types'

/** Every notification channel of the user (all pages). */
export function useNotificationChannels() {
  return useQuery({
    queryKey: keys.notificationChannels,
    queryFn: () => fetchAll<NotificationChannel>('/notification-channels'),
  })
}

function useChannelMutation<TVars, TResult>(mutationFn: (vars: TVars) => Promise<TResult>) {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn,
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.notificationChannels }),
  })
}

/** `POST /notification-channels`; a webhook channel's answer carries its signing secret, once. */
export function useCreateNotificationChannel() {
  return useChannelMutation((input: NewNotificationChannel) =>
    api<NotificationChannel>('/notification-channels', { method: 'POST', body: input }),
  )
}

export function useDeleteNotificationChannel() {
  return useChannelMutation((id: string) => api<void>(`/notification-channels/${id}`, { method: 'DELETE' }))
}

/** `POST /notification-channels/{id}/test`: Warren sends the channel a `notification.test`. */
export function useTestNotificationChannel() {
  return useMutation({
    mutationFn: (id: string) => api<unknown>(`/notification-channels/${id}/test`, { method: 'POST' }),
  })
}

/** The in-app notifications, newest first, a page at a time. */
export function useNotifications(limit = 50) {
  return useInfiniteQuery({
    queryKey: keys.notifications,
    queryFn: ({ pageParam }) => api<NotificationPage>('/notifications', { query: { limit, cursor: pageParam } }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  })
}

/**
 * How many notifications are unread, for the navigation's badge: the `unread` of a one-item
 * page. The `notification` socket event refreshes it; the interval covers a socket that is down.
 */
export function useUnreadNotifications() {
  return useQuery({
    queryKey: keys.unreadNotifications,
    queryFn: async () => (await api<NotificationPage>('/notifications', { query: { limit: 1 } })).unread ?? 0,
    refetchInterval: 60_000,
  })
}

/** `POST /notifications/read`: every notification up to `upTo` (all, without it) is read. */
export function useMarkNotificationsRead() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (upTo?: string) => api<void>('/notifications/read', { method: 'POST', body: upTo ? { up_to: upTo } : undefined }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.allNotifications }),
  })
}
