// The signed-in session. The credential itself is Warren's HttpOnly session cookie, which
// scripts cannot read (so an injected script cannot steal it); this module keeps only who is
// signed in (id, email and role, nothing secret: the server checks the role on every call) in localStorage, so a reload stays signed in and
// other tabs follow. Components read it through `useSession`; the api client ends it on a 401,
// which is how an expired or revoked cookie is noticed.
import { useSyncExternalStore } from 'react'
import type { User } from './types'

const USER_KEY = 'warren.user'

/** Where versions before the cookie kept the session token; removed on sight. */
const LEGACY_TOKEN_KEY = 'warren.token'

export interface Session {
  user: User
}

type Listener = () => void
const listeners = new Set<Listener>()
let current: Session | null = read()

function read(): Session | null {
  try {
    localStorage.removeItem(LEGACY_TOKEN_KEY)
    const user = localStorage.getItem(USER_KEY)
    return user ? { user: JSON.parse(user) as User } : null
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

/** Starts a session (after signup or login; the server has set the cookie). */
export function startSession(user: User) {
  localStorage.setItem(USER_KEY, JSON.stringify({ id: user.id, email: user.email, role: user.role }))
  current = { user }
  notify()
}

/** Ends the session here: on logout, and whenever the API answers 401. */
export function endSession() {
  localStorage.removeItem(USER_KEY)
  localStorage.removeItem(LEGACY_TOKEN_KEY)
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
    if (e.key === USER_KEY || e.key === null) reloadSession()
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
