// A fake `fetch`: the network boundary of every API call. Routes are "METHOD /path" (query
// string ignored) answered by a function of the request; every call is recorded.
import { vi } from 'vitest'

export interface Call {
  method: string
  url: string
  path: string
  query: URLSearchParams
  headers: Record<string, string>
  /** Whether the browser would send cookies with it (`same-origin`, `include`, `omit`). */
  credentials: RequestCredentials | undefined
  body: unknown
}

export type Reply = { status?: number; body?: unknown; contentType?: string }
export type Route = (call: Call) => Reply | Promise<Reply>

export function json(body: unknown, status = 200): Reply {
  return { status, body }
}

export function problem(status: number, detail: string, errors?: { field: string; message: string }[]): Reply {
  return {
    status,
    contentType: 'application/problem+json',
    body: { type: 'about:blank', title: 'Error', status, detail, ...(errors ? { errors } : {}) },
  }
}

export const page = <T,>(data: T[], next_cursor: string | null = null) => ({ data, next_cursor })

export function mockApi(routes: Record<string, Route | Reply>) {
  const calls: Call[] = []
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input)
    const parsed = new URL(url, 'http://warren.test')
    const headers: Record<string, string> = {}
    new Headers(init.headers).forEach((v, k) => (headers[k] = v))
    const call: Call = {
      method: (init.method ?? 'GET').toUpperCase(),
      url,
      path: parsed.pathname,
      query: parsed.searchParams,
      headers,
      credentials: init.credentials,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    }
    calls.push(call)
    const route = routes[`${call.method} ${call.path}`]
    const reply: Reply = route === undefined ? problem(404, `no fake for ${call.method} ${call.path}`) : typeof route === 'function' ? await route(call) : route
    const status = reply.status ?? 200
    const body = status === 204 || reply.body === undefined ? null : JSON.stringify(reply.body)
    return new Response(body, {
      status,
      headers: { 'content-type': reply.contentType ?? 'application/json' },
    })
  })
  vi.stubGlobal('fetch', fetchMock)
  return {
    calls,
    /** The calls to one "METHOD /path". */
    callsTo: (key: string) => calls.filter((c) => `${c.method} ${c.path}` === key),
  }
}
