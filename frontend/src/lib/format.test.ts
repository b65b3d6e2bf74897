import { describe, expect, it } from 'vitest'
import { formatMs, formatPercent, formatRelative, localInputToIso, urlSegments } from './format'

describe('formatting', () => {
  it('shows rates with at most one decimal and never rounds a failure up to 100%', () => {
    expect(formatPercent(0.55)).toBe('55%')
    expect(formatPercent(2 / 3)).toBe('66.7%')
    expect(formatPercent(0.99999)).toBe('99.9%')
    expect(formatPercent(1)).toBe('100%')
    expect(formatPercent(null)).toBe('—')
  })

  it('shows durations in ms below a second and seconds above', () => {
    expect(formatMs(93)).toBe('93 ms')
    expect(formatMs(1500)).toBe('1.5 s')
    expect(formatMs(10_000)).toBe('10 s')
    // A chart axis's round values stay short: no "1.0 s".
    expect(formatMs(1000)).toBe('1 s')
    expect(formatMs(2000)).toBe('2 s')
    expect(formatMs(0)).toBe('0 ms')
  })

  it('says how far a time is from now', () => {
    const now = Date.parse('2025-01-01T00:00:00Z')
    expect(formatRelative('2025-01-01T00:00:30Z', now)).toBe('in 30 s')
    expect(formatRelative('2024-12-31T23:55:00Z', now)).toBe('5 min ago')
  })

  it('turns a datetime-local value into RFC 3339 UTC, and nothing into nothing', () => {
    expect(localInputToIso('2025-01-01T10:00')).toBe(new Date('2025-01-01T10:00').toISOString())
    expect(localInputToIso('')).toBeUndefined()
  })

  it('cuts a URL where a line may wrap, never inside a word, and loses nothing', () => {
    const url = 'https://hooks.example-shop.com/webhooks/orders?team=payments&region=eu'
    expect(urlSegments(url)).toEqual(['https://', 'hooks', '.example-shop', '.com/', 'webhooks/', 'orders', '?team=', 'payments', '&region=', 'eu'])
    expect(urlSegments(url).join('')).toBe(url)
    expect(urlSegments('http://127.0.0.1:8080/')).toEqual(['http://', '127', '.0', '.0', '.1:8080/'])
  })
})
