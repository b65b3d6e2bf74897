// The one hook through which the app hears Warren's socket.io events. One connection per
// signed-in user is shared by every component that listens; it closes when the last one
// stops listening or the session ends. It authenticates with the HttpOnly session cookie the
// browser sends with the handshake (same origin), never with a token of its own. The server
// ends it when its session ends (logout elsewhere, expiry): that is not retried.
import { useEffect, useRef, useState } from 'react'
import { io, type Socket } from 'socket.io-client'
import { useSession } from './session'
import type { ServerEvents } from './types'

export const SERVER_EVENTS = ['delivery.attempt', 'delivery.held', 'event.received', 'subscription.updated', 'notification'] as const

// Untyped events: listeners are attached by name from SERVER_EVENTS below.
type WarrenSocket = Socket

let shared: { userId: string; socket: WarrenSocket; refs: number } | null = null

const RETRY_REFUSED_MS = 5_000

/** Why socket.io says a connection closed when the server ended it. */
const SERVER_ENDED = 'io server disconnect'

function acquire(userId: string): WarrenSocket {
  if (shared && shared.userId !== userId) {
    shared.socket.disconnect()
    shared = null
  }
  if (!shared) {
    const socket: WarrenSocket = io({
      path: '/socket.io/',
      // The session cookie goes with the handshake; nothing secret is passed here.
      withCredentials: true,
      transports: ['websocket', 'polling'],
    })
    shared = { userId, socket, refs: 0 }
    // socket.io retries lost connections by itself, but not one the server refused at
    // connect (its gateway not up yet, say): try again every few seconds while wanted.
    socket.on('connect_error', () => {
      if (socket.active) return
      setTimeout(() => {
        if (shared?.socket === socket && !socket.connected) socket.connect()
      }, RETRY_REFUSED_MS)
    })
  }
  shared.refs += 1
  return shared.socket
}

function release(socket: WarrenSocket) {
  if (!shared || shared.socket !== socket) {
    socket.disconnect()
    return
  }
  shared.refs -= 1
  if (shared.refs <= 0) {
    socket.disconnect()
    shared = null
  }
}

export type SocketStatus = 'connecting' | 'connected' | 'disconnected'

export interface SocketState {
  status: SocketStatus
  /** Why the last connection attempt failed, if it did. */
  error: string | null
  /** The server ended the connection: the session it was opened with may have ended. */
  ended?: boolean
}

/**
 * Listens to the server's events while mounted. `handlers` may change on every render; the
 * latest ones are called.
 */
export function useWarrenSocket(handlers: Partial<ServerEvents>): SocketState {
  const userId = useSession()?.user.id
  const handlersRef = useRef(handlers)
  handlersRef.current = handlers
  const [state, setState] = useState<SocketState>({ status: 'connecting', error: null })

  useEffect(() => {
    if (!userId) {
      setState({ status: 'disconnected', error: null })
      return
    }
    const socket = acquire(userId)
    setState({ status: socket.connected ? 'connected' : 'connecting', error: null })
    const onConnect = () => setState({ status: 'connected', error: null })
    const onDisconnect = (reason?: string) => {
      if (reason === SERVER_ENDED) setState({ status: 'disconnected', error: 'The server ended the live connection.', ended: true })
      else setState((s) => ({ ...s, status: 'disconnected' }))
    }
    const onError = (err: Error) => setState({ status: 'disconnected', error: err.message })
    socket.on('connect', onConnect)
    socket.on('disconnect', onDisconnect)
    socket.on('connect_error', onError)
    const listeners = SERVER_EVENTS.map((name) => {
      const listener = (message: unknown) => {
        const handler = handlersRef.current[name] as ((m: unknown) => void) | undefined
        handler?.(message)
      }
      socket.on(name, listener)
      return [name, listener] as const
    })
    return () => {
      socket.off('connect', onConnect)
      socket.off('disconnect', onDisconnect)
      socket.off('connect_error', onError)
      for (const [name, listener] of listeners) socket.off(name, listener)
      release(socket)
    }
  }, [userId])

  return state
}
