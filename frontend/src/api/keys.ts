// Query keys, in one place so mutations and socket events invalidate the right caches.
import type { DeadLetterFilters, EventFilters, StatsWindow } from './types'

export const keys = {
  me: ['me'] as const,
  sources: ['sources'] as const,
  source: (id: string) => ['sources', id] as const,
  subscriptions: ['subscriptions'] as const,
  subscription: (id: string) => ['subscriptions', id] as const,
  subscriptionDeliveries: (id: string, status?: string) =>
    ['subscriptions', id, 'deliveries', status ?? ''] as const,
  /** Under the subscription's key, so whatever refreshes a subscription refreshes its line. */
  subscriptionLine: (id: string) => ['subscriptions', id, 'line'] as const,
  stats: (id: string, window: StatsWindow) => ['stats', id, window] as const,
  allStats: ['stats'] as const,
  /** Every subscription's stats and backlog over one window (the dashboard's one call). */
  dashboardStats: (window: StatsWindow) => ['stats', 'all', window] as const,
  queues: ['queues'] as const,
  adminUsers: ['admin', 'users'] as const,
  adminSubscriptions: (circuitState: string) => ['admin', 'subscriptions', circuitState] as const,
  invites: ['admin', 'invites'] as const,
  events: (filters: EventFilters) => ['events', 'list', filters] as const,
  allEvents: ['events'] as const,
  event: (id: string) => ['events', 'one', id] as const,
  delivery: (id: string) => ['deliveries', id] as const,
  deadLetters: (filters: DeadLetterFilters) => ['dead-letters', filters] as const,
  allDeadLetters: ['dead-letters'] as const,
  notificationChannels: ['notification-channels'] as const,
  notifications: ['notifications', 'list'] as const,
  unreadNotifications: ['notifications', 'unread'] as const,
  allNotifications: ['notifications'] as const,
}
