// JSON the user types where the API wants an object: a subscription's `filter`, the events
// page's `contains` search.

/** Most bytes the API takes for a filter or a `contains` search. */
export const MAX_JSON_OBJECT_BYTES = 4096

export type JsonObject = Record<string, unknown>

/**
 * `text` read as a JSON object, or why it is not one. Empty text is `{ value: null }`
 * (no filter, no search).
 */
export function parseJsonObject(text: string): { value: JsonObject | null; error?: string } {
  if (!text.trim()) return { value: null }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { value: null, error: 'is not valid JSON' }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { value: null, error: 'must be a JSON object, like {"customer": {"id": "cus_1"}}' }
  }
  if (new TextEncoder().encode(JSON.stringify(parsed)).length > MAX_JSON_OBJECT_BYTES) {
    return { value: null, error: `must be at most ${MAX_JSON_OBJECT_BYTES} bytes` }
  }
  return { value: parsed as JsonObject }
}
