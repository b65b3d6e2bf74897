// What an attempt's answer was, for people: "HTTP 500", "Timed out", "Could not connect".

/** Each `error_kind` of the API (docs/API.md) as a person would say it. */
const ERROR_KIND_LABELS: Record<string, string> = {
  http_status: 'Not a 2xx answer',
  timeout: 'Timed out',
  connect: 'Could not connect',
  tls: 'TLS handshake failed',
  redirect: 'Redirect not followed',
  ssrf_blocked: 'Blocked: not a public address',
  body: 'Answer could not be read',
  template: 'Payload template failed',
}

/** An error kind's label; an unknown one in words ("some_kind" → "Some kind"). */
export function errorKindLabel(kind: string): string {
  const known = ERROR_KIND_LABELS[kind]
  if (known) return known
  const words = kind.replace(/_/g, ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/**
 * Why an attempt failed, when its status code does not already say it: nothing for no error
 * or for `http_status` next to its status, the error kind's label otherwise.
 */
export function failureReason(statusCode: number | null | undefined, errorKind: string | null | undefined): string | null {
  if (!errorKind) return null
  if (errorKind === 'http_status' && statusCode !== null && statusCode !== undefined) return null
  return errorKindLabel(errorKind)
}

/**
 * An answer in one phrase: "HTTP 500", "HTTP 302 · Redirect not followed", "Timed out"; `none`
 * when there was neither a status nor an error (no attempt yet).
 */
export function describeAnswer(statusCode: number | null | undefined, errorKind: string | null | undefined, none = '—'): string {
  const reason = failureReason(statusCode, errorKind)
  if (statusCode === null || statusCode === undefined) return reason ?? none
  return reason ? `HTTP ${statusCode} · ${reason}` : `HTTP ${statusCode}`
}
