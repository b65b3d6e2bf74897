// The signed-in session: the token and user, kept in localStorage so a reload stays signed
// in. Components read it through `useSession`; the api client clears it on a 401.
import { useSyncExternalStore } from 'react'
import type { User } from './types'

const TOKEN_KEY = 'warren.token'
const USER_KEY = 'warren.user'

export interface Session {
  token: string
  user: User | null
}

type Listener = () => void
const listeners = new Set<Listener>()
let current: Session | null = read()

function read(): Session | null {
  try {
    const token = localStorage.getItem(TOKEN_KEY)
    if (!token) return null
    const user = localStorage.getItem(USER_KEY)
    return { token, user: user ? (JSON.parse(user) as User) : null }
  } catch {
    return null
  }
}

function notify() {
  for (const listener of listeners) listener()
}

/** The current session, or null when signed out. */
export function getSession(): Session | null {
  return current
}

/** Starts a session (after signup or login). */
export function startSession(token: string, user: User | null) {
  localStorage.setItem(TOKEN_KEY, token)
  if (user) localStorage.setItem(USER_KEY, JSON.stringify(user))
  else localStorage.removeItem(USER_KEY)
  current = { token, user }
  notify()
}

/** Ends the session: on logout, and whenever the API answers 401. */
export function endSession() {
  localStorage.removeItem(TOKEN_KEY)
  localStorage.removeItem(USER_KEY)
  if (current === null) return
  current = null
  notify()
}

/** Re-reads localStorage (tests, and other tabs signing in or out). */
export function reloadSession() {
  current = read()
  notify()
}

function subscribe(listener: Listener) {
  listeners.add(listener)
  const onStorage = (e: StorageEvent) => {
    if (e.key === TOKEN_KEY || e.key === null) reloadSession()
  }
  window.addEventListener('storage', onStorage)
  return () => {
    listeners.delete(listener)
    window.removeEventListener('storage', onStorage)
  }
}

/** The session, re-rendering when it starts or ends. */
export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, getSession, getSession)
}
