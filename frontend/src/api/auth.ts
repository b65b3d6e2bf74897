// Signing up, in and out.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from './client'
import { keys } from './keys'
import { endSession, startSession, useSession } from './session'
import type { AuthResponse, User } from './types'

export interface Credentials {
  email: string
  password: string
  /** Signup only: the token of the operator's invite for this email (needed in `invite` mode). */
  invite?: string
}

function useAuthMutation(path: '/auth/signup' | '/auth/login') {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (credentials: Credentials) =>
      api<AuthResponse>(path, { method: 'POST', body: credentials, anonymous: true }),
    onSuccess: ({ user }) => {
      queryClient.clear()
      startSession(user)
    },
  })
}

/** `POST /auth/signup`; starts the session on success. */
export function useSignup() {
  return useAuthMutation('/auth/signup')
}

/** `POST /auth/login`; starts the session on success. */
export function useLogin() {
  return useAuthMutation('/auth/login')
}

/** `POST /auth/logout`: ends the session (and its cookie) on the server, and here whatever the server says. */
export function useLogout() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: () => api<void>('/auth/logout', { method: 'POST' }),
    onSettled: () => {
      endSession()
      queryClient.clear()
    },
  })
}

/** `GET /me`: who is signed in (and a check that the session cookie still works). */
export function useMe() {
  const session = useSession()
  return useQuery({
    queryKey: keys.me,
    queryFn: () => api<User>('/me'),
    enabled: Boolean(session),
    // A session stored before roles existed is asked again at once.
    initialData: session?.user.role ? session.user : undefined,
    staleTime: 60_000,
  })
}

/**
 * Whether the signed-in person is the instance's operator, as `GET /me` says: what shows the
 * Admin section. Only a convenience for the eye: every operators' route checks it again.
 */
export function useIsOperator(): boolean {
  return useMe().data?.role === 'operator'
}
