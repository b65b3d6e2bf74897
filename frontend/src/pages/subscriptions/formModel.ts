// The subscription form's text values, and their conversion to and from the API's fields.
import type { Batch, OnDead, Ordering, SigningAlgorithm, Subscription, SubscriptionInput } from '../../api'
import { parseJsonObject } from '../../lib/jsonObject'

export interface FormValues {
  name: string
  target_url: string
  source_id: string
  event_types: string
  timeout_ms: string
  max_attempts: string
  rate_limit_per_sec: string
  payload_template: string
  headers: string
  filter: string
  ordering: Ordering
  on_dead: OnDead
  /** Chosen on create only; a rotation changes it later. */
  signing_algorithm: SigningAlgorithm
  batch_max_events: string
  batch_max_wait_ms: string
}

export const emptyForm: FormValues = {
  name: '',
  target_url: '',
  source_id: '',
  event_types: '',
  timeout_ms: '10000',
  max_attempts: '8',
  rate_limit_per_sec: '100',
  payload_template: '',
  headers: '',
  filter: '',
  ordering: 'none',
  on_dead: 'skip',
  signing_algorithm: 'hmac_sha256',
  batch_max_events: '',
  batch_max_wait_ms: '',
}

export function toForm(s: Subscription): FormValues {
  return {
    name: s.name,
    target_url: s.target_url,
    source_id: s.source_id ?? '',
    event_types: (s.event_types ?? []).join(', '),
    timeout_ms: String(s.timeout_ms),
    max_attempts: String(s.max_attempts),
    rate_limit_per_sec: String(s.rate_limit_per_sec),
    payload_template: s.payload_template ?? '',
    headers: Object.entries(s.headers ?? {})
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n'),
    filter: s.filter ? JSON.stringify(s.filter, null, 2) : '',
    ordering: s.ordering,
    on_dead: s.on_dead,
    signing_algorithm: s.signing_algorithm ?? 'hmac_sha256',
    batch_max_events: s.batch ? String(s.batch.max_events) : '',
    batch_max_wait_ms: s.batch ? String(s.batch.max_wait_ms) : '',
  }
}

export type FieldErrors = Partial<Record<keyof FormValues, string>>

function integer(value: string, field: keyof FormValues, errors: FieldErrors): number {
  const trimmed = value.trim()
  if (!/^\d+$/.test(trimmed)) {
    errors[field] = 'must be a whole number'
    return NaN
  }
  return Number(trimmed)
}

/** "A: 1\nB: 2" → {A: "1", B: "2"}; a line without a colon is an error. */
function parseHeaders(text: string, errors: FieldErrors): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (!line) continue
    const colon = line.indexOf(':')
    if (colon <= 0) {
      errors.headers = `line ${i + 1} is not “Name: value”`
      continue
    }
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim()
  }
  return headers
}

/** The filter's JSON object; empty text is no filter (`null`, which clears a stored one). */
function parseFilter(text: string, errors: FieldErrors): Record<string, unknown> | null {
  const { value, error } = parseJsonObject(text)
  if (error) errors.filter = error
  return value
}

/** The batch of the two batch fields: both empty is none (`null`, which clears a stored one). */
function parseBatch(values: FormValues, errors: FieldErrors): Batch | null {
  if (!values.batch_max_events.trim() && !values.batch_max_wait_ms.trim()) return null
  return {
    max_events: integer(values.batch_max_events, 'batch_max_events', errors),
    max_wait_ms: integer(values.batch_max_wait_ms, 'batch_max_wait_ms', errors),
  }
}

/**
 * The API body for the form, or the fields the form itself can tell are wrong. Ranges and
 * URLs are left to the server, whose 422 lands next to the same fields. The signing
 * algorithm goes only into a create's body (`creating`): an update never changes the key.
 */
export function toInput(values: FormValues, creating = false): { input: SubscriptionInput; errors: FieldErrors } {
  const errors: FieldErrors = {}
  const input: SubscriptionInput = {
    name: values.name.trim(),
    target_url: values.target_url.trim(),
    source_id: values.source_id || null,
    event_types: values.event_types
      .split(/[,\s]+/)
      .map((t) => t.trim())
      .filter(Boolean),
    timeout_ms: integer(values.timeout_ms, 'timeout_ms', errors),
    max_attempts: integer(values.max_attempts, 'max_attempts', errors),
    rate_limit_per_sec: integer(values.rate_limit_per_sec, 'rate_limit_per_sec', errors),
    payload_template: values.payload_template.trim() ? values.payload_template : null,
    headers: parseHeaders(values.headers, errors),
    filter: parseFilter(values.filter, errors),
    ordering: values.ordering,
    on_dead: values.on_dead,
    ...(creating ? { signing_algorithm: values.signing_algorithm } : {}),
    batch: parseBatch(values, errors),
  }
  return { input, errors }
}

/** Whether a subscription's event-type filter takes `type` (exact, or a prefix ending in `*`). */
export function takesEventType(filters: string[], type: string): boolean {
  if (filters.length === 0) return true
  return filters.some((f) => (f.endsWith('*') ? type.startsWith(f.slice(0, -1)) : f === type))
}
