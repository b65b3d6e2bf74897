// What an operator runs the instance with: its users (disable, enable), invites, and every
// tenant's open circuits. Every route here answers 403 to a user who is not an operator, so
// these hooks are only mounted behind the operator check (pages/admin/RequireOperator).
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, fetchAll } from './client'
import { keys } from './keys'
import type { AdminSubscription, AdminUser, CreatedInvite, Invite, Page } from './types'

/** `GET /admin/users` (all pages), with each user's counts. */
export function useAdminUsers() {
  return useQuery({
    queryKey: keys.adminUsers,
    queryFn: () => fetchAll<AdminUser>('/admin/users'),
    // Other people sign up and use Warren meanwhile: read again each time the page opens.
    staleTime: 0,
    refetchInterval: 30_000,
  })
}

/**
 * Disable (`POST /admin/users/{id}/disable`) or enable a user. The answer is the user as it
 * now is: shown in the table at once, then the whole list is read again for its counts.
 */
function useUserStandingMutation(action: 'disable' | 'enable') {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => api<AdminUser>(`/admin/users/${id}/${action}`, { method: 'POST' }),
    onSuccess: (user) => {
      if (user?.id) {
        queryClient.setQueryData<AdminUser[]>(keys.adminUsers, (users) => users?.map((u) => (u.id === user.id ? { ...u, ...user } : u)))
      }
      return queryClient.invalidateQueries({ queryKey: keys.adminUsers })
    },
  })
}

/** Its sessions, API keys, live sockets and ingest stop at once; nothing of it is deleted. */
export function useDisableUser() {
  return useUserStandingMutation('disable')
}

export function useEnableUser() {
  return useUserStandingMutation('enable')
}

/** The invites, newest first, without their tokens. Takes a page or a bare array. */
export function useInvites() {
  return useQuery({
    queryKey: keys.invites,
    queryFn: async () => {
      const answer = await api<Page<Invite> | Invite[]>('/invites', { query: { limit: 200 } })
      return Array.isArray(answer) ? answer : answer.data
    },
    // Invites get used by the people they were sent to: read again each time the page opens.
    staleTime: 0,
    refetchInterval: 30_000,
  })
}

/** `POST /invites {"email"}`: the answer holds the invite's token, the only time it is shown. */
export function useCreateInvite() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (email: string) => api<CreatedInvite>('/invites', { method: 'POST', body: { email } }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.invites }),
  })
}

/** `DELETE /invites/{id}`: the link stops working. */
export function useRevokeInvite() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => api<void>(`/invites/${id}`, { method: 'DELETE' }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.invites }),
  })
}

/** The circuit states an operator is shown: every tenant's subscriptions whose receiver is in trouble. */
export const TROUBLED_CIRCUITS = ['open', 'half_open'] as const

/** `GET /admin/subscriptions?circuit_state=open` and `=half_open`, together, every 15 s. */
export function useOpenCircuits() {
  const results = useQueries({
    queries: TROUBLED_CIRCUITS.map((state) => ({
      queryKey: keys.adminSubscriptions(state),
      queryFn: () => fetchAll<AdminSubscription>('/admin/subscriptions', { circuit_state: state }),
      refetchInterval: 15_000,
    })),
  })
  return {
    data: results.every((r) => r.data) ? results.flatMap((r) => r.data ?? []) : undefined,
    isPending: results.some((r) => r.isPending),
    error: results.find((r) => r.error)?.error ?? null,
  }
}
