import { describe, expect, it } from 'vitest'
import { describeAnswer, errorKindLabel, failureReason } from './attemptResult'

describe('an attempt’s answer, for people', () => {
  it('names every error kind of the API in words', () => {
    expect(errorKindLabel('timeout')).toBe('Timed out')
    expect(errorKindLabel('connect')).toBe('Could not connect')
    expect(errorKindLabel('tls')).toBe('TLS handshake failed')
    expect(errorKindLabel('redirect')).toBe('Redirect not followed')
    expect(errorKindLabel('ssrf_blocked')).toBe('Blocked: not a public address')
    expect(errorKindLabel('body')).toBe('Answer could not be read')
    expect(errorKindLabel('template')).toBe('Payload template failed')
    // One the app does not know yet still reads as words.
    expect(errorKindLabel('rate_limited')).toBe('Rate limited')
  })

  it('adds nothing to a status code that already says what went wrong', () => {
    expect(failureReason(500, 'http_status')).toBeNull()
    expect(failureReason(200, null)).toBeNull()
    expect(failureReason(302, 'redirect')).toBe('Redirect not followed')
    expect(failureReason(null, 'timeout')).toBe('Timed out')
    expect(failureReason(null, 'http_status')).toBe('Not a 2xx answer')
  })

  it('says an answer in one phrase', () => {
    expect(describeAnswer(503, 'http_status')).toBe('HTTP 503')
    expect(describeAnswer(302, 'redirect')).toBe('HTTP 302 · Redirect not followed')
    expect(describeAnswer(null, 'connect')).toBe('Could not connect')
    expect(describeAnswer(null, null)).toBe('—')
    expect(describeAnswer(undefined, undefined, 'no response')).toBe('no response')
  })
})
