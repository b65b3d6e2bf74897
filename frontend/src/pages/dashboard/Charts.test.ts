import { describe, expect, it } from 'vitest'
import { formatCount } from './Charts'

describe('chart axis labels', () => {
  it('say a count or rate as short as it can be said', () => {
    expect(formatCount(0)).toBe('0')
    expect(formatCount(0.25)).toBe('0.25')
    expect(formatCount(12)).toBe('12')
    expect(formatCount(1500)).toBe('1.5k')
    expect(formatCount(20_000)).toBe('20k')
  })
})
