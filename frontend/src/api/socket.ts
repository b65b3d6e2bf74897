// The one hook through which the app hears Warren's socket.io events. One connection per
// signed-in token is shared by every component that listens; it closes when the last one
// stops listening or the session ends.
import { useEffect, useRef, useState } from 'react'
import { io, type Socket } from 'socket.io-client'
import { useSession } from './session'
import type { ServerEvents } from './types'

export const SERVER_EVENTS = ['delivery.attempt', 'delivery.held', 'event.received', 'subscription.updated', 'notification'] as const

// Untyped events: listeners are attached by name from SERVER_EVENTS below.
type WarrenSocket = Socket

let shared: { token: string; socket: WarrenSocket; refs: number } | null = null

const RETRY_REFUSED_MS = 5_000

function acquire(token: string): WarrenSocket {
  if (shared && shared.token !== token) {
    shared.socket.disconnect()
    shared = null
  }
  if (!shared) {
    const socket: WarrenSocket = io({
      path: '/socket.io/',
      auth: { token },
      transports: ['websocket', 'polling'],
    })
    shared = { token, socket, refs: 0 }
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
}

/**
 * Listens to the server's events while mounted. `handlers` may change on every render; the
 * latest ones are called.
 */
export function useWarrenSocket(handlers: Partial<ServerEvents>): SocketState {
  const token = useSession()?.token
  const handlersRef = useRef(handlers)
  handlersRef.current = handlers
  const [state, setState] = useState<SocketState>({ status: 'connecting', error: null })

  useEffect(() => {
    if (!token) {
      setState({ status: 'disconnected', error: null })
      return
    }
    const socket = acquire(token)
    setState({ status: socket.connected ? 'connected' : 'connecting', error: null })
    const onConnect = () => setState({ status: 'connected', error: null })
    const onDisconnect = () => setState((s) => ({ ...s, status: 'disconnected' }))
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
  }, [token])

  return state
}
