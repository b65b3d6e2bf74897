import '@testing-library/jest-dom/vitest'
import { cleanup, configure } from '@testing-library/react'
import { afterEach, vi } from 'vitest'
import { endSession } from '../api/session'
import { sockets } from './fakeSocket'

// The lazily loaded dashboard (and a busy 2-core machine) can take more than a second.
configure({ asyncUtilTimeout: 5000 })

// Live updates go through socket.io; tests play the server with a fake socket.
vi.mock('socket.io-client', async () => {
  const { fakeIo } = await import('./fakeSocket')
  return { io: fakeIo }
})

// jsdom has no layout; recharts' ResponsiveContainer asks for one.
class ResizeObserverStub {
  observe() {}
  unobserve() {}
  disconnect() {}
}
globalThis.ResizeObserver ??= ResizeObserverStub as unknown as typeof ResizeObserver

afterEach(() => {
  cleanup()
  endSession()
  localStorage.clear()
  sockets.length = 0
  vi.unstubAllGlobals()
})
