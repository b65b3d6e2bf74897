import { describe, expect, it } from 'vitest'
import { MAX_JSON_OBJECT_BYTES, parseJsonObject } from './jsonObject'

describe('parseJsonObject', () => {
  it('reads an object, and empty text as none', () => {
    expect(parseJsonObject(' {"customer": {"id": "cus_1"}} ')).toEqual({ value: { customer: { id: 'cus_1' } } })
    expect(parseJsonObject('  ')).toEqual({ value: null })
  })

  it('says why anything else is refused', () => {
    expect(parseJsonObject('{"a":').error).toBe('is not valid JSON')
    for (const text of ['[1]', '"a"', '1', 'null', 'true']) {
      expect(parseJsonObject(text).error, text).toMatch(/must be a JSON object/)
    }
    expect(parseJsonObject(JSON.stringify({ a: 'x'.repeat(MAX_JSON_OBJECT_BYTES) })).error).toMatch(/at most 4096 bytes/)
  })
})
