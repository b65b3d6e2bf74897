// The one place that talks HTTP to Warren: relative `/api/v1/...` URLs, JSON in and out, and
// problem+json errors turned into `ApiError`. The credential is the HttpOnly session cookie,
// which the browser sends by itself (no token is ever held by scripts). A 401 on an
// authenticated call ends the session, which sends the person back to the login page.
import { endSession } from './session'
import type { FieldError, Page, Problem } from './types'

/** An error answer from the API (or no answer at all: status 0). */
export class ApiError extends Error {
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly errors: FieldError[]

  constructor(status: number, problem: Partial<Problem>) {
    const detail = problem.detail || problem.title || `Request failed (${status})`
    super(detail)
    this.name = 'ApiError'
    this.status = status
    this.title = problem.title ?? ''
    this.detail = detail
    this.errors = Array.isArray(problem.errors) ? problem.errors : []
  }

  /** Validation messages by bare field name (`event_types[0]` → `event_types`). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const { field, message } of this.errors) {
      const name = String(field ?? '').split(/[.[]/)[0]
      out[name] = out[name] ? `${out[name]}; ${message}` : message
    }
    return out
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  body?: unknown
  /** Query parameters; undefined, null and '' are left out. */
  query?: Record<string, string | number | undefined | null>
  headers?: Record<string, string>
  /** Signup and login: a 401 is just a wrong password, not an ended session. */
  anonymous?: boolean
}

const API_BASE = '/api/v1'

/** The path with its query string. */
export function withQuery(path: string, query?: RequestOptions['query']): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const qs = params.toString()
  return qs ? `${path}?${qs}` : path
}

/** Calls `/api/v1{path}` and returns the parsed JSON (undefined for 204). */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, query, anonymous = false } = options
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
  if (body !== undefined) headers['content-type'] = 'application/json'

  let response: Response
  try {
    response = await fetch(withQuery(`${API_BASE}${path}`, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      // The session cookie goes with every call to Warren's own origin (and only there).
      credentials: 'same-origin',
    })
  } catch {
    throw new ApiError(0, { detail: 'Could not reach Warren. Check your connection and try again.' })
  }

  if (response.status === 401 && !anonymous) {
    endSession()
  }
  if (!response.ok) {
    throw new ApiError(response.status, await problemOf(response))
  }
  if (response.status === 204) return undefined as T
  const text = await response.text()
  return (text ? JSON.parse(text) : undefined) as T
}

async function problemOf(response: Response): Promise<Partial<Problem>> {
  const text = await response.text().catch(() => '')
  try {
    const parsed = JSON.parse(text)
    if (parsed && typeof parsed === 'object') return parsed as Partial<Problem>
  } catch {
    // Not JSON (a proxy's error page, say): fall through to the status line.
  }
  return { title: response.statusText, detail: `${response.status} ${response.statusText}`.trim() }
}

/** Every page of a list, for the short ones (sources, subscriptions) that selects need whole. */
export async function fetchAll<T>(path: string, filters: RequestOptions['query'] = {}, maxPages = 20): Promise<T[]> {
  const all: T[] = []
  let cursor: string | null = null
  for (let i = 0; i < maxPages; i++) {
    const page: Page<T> = await api<Page<T>>(path, { query: { ...filters, limit: 200, cursor } })
    all.push(...page.data)
    cursor = page.next_cursor
    if (!cursor) break
  }
  return all
}

/** The message a person should see for any thrown error. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.detail
  if (error instanceof Error) return error.message
  return 'Something went wrong.'
}
