import { QueryClientProvider } from '@tanstack/react-query'
import { act, renderHook } from '@testing-library/react'
import type { ReactNode } from 'react'
import { describe, expect, it } from 'vitest'
import { makeQueryClient } from '../../AppProviders'
import type { DeliveryAttemptMessage } from '../../api'
import { openSocket } from '../../test/fakeSocket'
import { signIn } from '../../test/render'
import { useLiveLog, type LiveFilters } from './useLiveLog'

const attempt = (over: Partial<DeliveryAttemptMessage> = {}): DeliveryAttemptMessage => ({
  delivery_id: '0190a000-0000-7000-8000-00000000d001',
  event_id: '0190a000-0000-7000-8000-00000000e001',
  subscription_id: 'sub-a',
  attempt: 1,
  status_code: 200,
  duration_ms: 12,
  outcome: 'succeeded',
  error_kind: null,
  next_attempt_at: null,
  at: '2025-01-01T00:00:00Z',
  event_type: 'order.paid',
  ...over,
})

function setup(initial: LiveFilters = {}) {
  signIn()
  const client = makeQueryClient({ retry: false })
  const wrapper = ({ children }: { children: ReactNode }) => <QueryClientProvider client={client}>{children}</QueryClientProvider>
  const hook = renderHook((filters: LiveFilters) => useLiveLog(filters), { wrapper, initialProps: initial })
  const socket = openSocket()
  const emit = (event: string, payload?: unknown) => act(() => socket.serverEmit(event, payload))
  return { ...hook, socket, emit }
}

describe('useLiveLog', () => {
  it('connects to /socket.io/ with the session cookie, sending no token of its own', () => {
    const { socket, emit, result } = setup()
    expect(socket.options).toMatchObject({ path: '/socket.io/', withCredentials: true })
    expect(socket.options).not.toHaveProperty('auth')
    expect(result.current.connection.status).toBe('connecting')
    act(() => socket.acceptConnection())
    expect(result.current.connection.status).toBe('connected')
    emit('connect_error', new Error('invalid token'))
    expect(result.current.connection).toEqual({ status: 'disconnected', error: 'invalid token' })
  })

  it('appends each delivery.attempt, newest first', () => {
    const { emit, result } = setup()
    emit('delivery.attempt', attempt({ delivery_id: 'd-1' }))
    emit('delivery.attempt', attempt({ delivery_id: 'd-2', outcome: 'failed', status_code: 500 }))

    expect(result.current.lines.map((l) => l.delivery_id)).toEqual(['d-2', 'd-1'])
    expect(result.current.lines[0]).toMatchObject({ outcome: 'failed', status_code: 500, event_type: 'order.paid' })
  })

  it('shows a held delivery as a line of its own, not attempted, that the outcome filter finds', () => {
    const { emit, result, rerender } = setup()
    emit('delivery.attempt', attempt({ delivery_id: 'sent' }))
    emit('delivery.held', { delivery_id: 'kept', event_id: 'e-1', event_type: 'order.paid', subscription_id: 'sub-a', at: '2025-01-01T00:00:01Z' })

    expect(result.current.lines[0]).toMatchObject({ delivery_id: 'kept', outcome: 'held', status_code: null, event_type: 'order.paid' })
    rerender({ outcome: 'held' })
    expect(result.current.lines.map((l) => l.delivery_id)).toEqual(['kept'])
  })

  it('takes the event type from an earlier event.received when the attempt lacks it', () => {
    const { emit, result } = setup()
    emit('event.received', { event_id: 'e-9', source_id: null, event_type: 'invoice.created', deliveries: 1, at: '2025-01-01T00:00:00Z' })
    emit('delivery.attempt', attempt({ event_id: 'e-9', event_type: undefined }))

    expect(result.current.lines[0].event_type).toBe('invoice.created')
  })

  it('filters by subscription, status class and outcome without losing lines', () => {
    const { emit, result, rerender } = setup()
    emit('delivery.attempt', attempt({ delivery_id: 'ok', subscription_id: 'sub-a', status_code: 200, outcome: 'succeeded' }))
    emit('delivery.attempt', attempt({ delivery_id: 'fail', subscription_id: 'sub-b', status_code: 503, outcome: 'failed' }))
    emit('delivery.attempt', attempt({ delivery_id: 'dead', subscription_id: 'sub-b', status_code: null, outcome: 'dead', error_kind: 'timeout' }))

    rerender({ subscription_id: 'sub-b' })
    expect(result.current.lines.map((l) => l.delivery_id)).toEqual(['dead', 'fail'])
    rerender({ status: '5xx' })
    expect(result.current.lines.map((l) => l.delivery_id)).toEqual(['fail'])
    rerender({ status: 'none' })
    expect(result.current.lines.map((l) => l.delivery_id)).toEqual(['dead'])
    rerender({ outcome: 'succeeded' })
    expect(result.current.lines.map((l) => l.delivery_id)).toEqual(['ok'])
    rerender({})
    expect(result.current.lines).toHaveLength(3)
    expect(result.current.total).toBe(3)
  })

  it('stops appending while paused, counts what it missed, and follows again on resume', () => {
    const { emit, result } = setup()
    emit('delivery.attempt', attempt({ delivery_id: 'before' }))
    act(() => result.current.pause())
    emit('delivery.attempt', attempt({ delivery_id: 'during-1' }))
    emit('delivery.attempt', attempt({ delivery_id: 'during-2' }))

    expect(result.current.lines.map((l) => l.delivery_id)).toEqual(['before'])
    expect(result.current.missed).toBe(2)

    act(() => result.current.resume())
    emit('delivery.attempt', attempt({ delivery_id: 'after' }))
    expect(result.current.lines.map((l) => l.delivery_id)).toEqual(['after', 'before'])
    expect(result.current.missed).toBe(0)
  })

  it('keeps one line per attempt when the server repeats itself', () => {
    const { emit, result } = setup()
    emit('delivery.attempt', attempt())
    emit('delivery.attempt', attempt())
    emit('delivery.attempt', attempt({ attempt: 2, at: '2025-01-01T00:00:05Z' }))
    expect(result.current.lines).toHaveLength(2)
  })

  it('closes the socket when the last listener goes away', () => {
    const { socket, unmount } = setup()
    unmount()
    expect(socket.closed).toBe(true)
  })
})

describe('a refused connection', () => {
  it('is tried again after a pause, since socket.io will not retry it by itself', async () => {
    const { vi } = await import('vitest')
    vi.useFakeTimers()
    try {
      const { socket, emit } = setup()
      socket.active = false
      emit('connect_error', new Error('gateway starting'))
      expect(socket.connectCalls).toBe(0)
      vi.advanceTimersByTime(5_000)
      expect(socket.connectCalls).toBe(1)
    } finally {
      vi.useRealTimers()
    }
  })
})
