import { describe, expect, it } from 'vitest'
import { inviteLink, readInvite } from './invite'

describe('invite links', () => {
  it('puts the token and the email in the signup link, encoded', () => {
    const link = inviteLink('https://warren.example.com', { token: 'wrn_inv_a+b/c=', email: 'ann+ops@example.com' })
    expect(link).toBe('https://warren.example.com/signup?invite=wrn_inv_a%2Bb%2Fc%3D&email=ann%2Bops%40example.com')
  })

  it('reads back exactly what it wrote', () => {
    const invite = { token: 'wrn_inv_a+b/c= &x', email: 'ann+ops@example.com' }
    expect(readInvite(new URL(inviteLink('http://127.0.0.1:8080', invite)).search)).toEqual(invite)
  })

  it('keeps the origin’s own path out and works behind a port', () => {
    expect(inviteLink('http://127.0.0.1:18080/', { token: 't', email: '' })).toBe('http://127.0.0.1:18080/signup?invite=t')
  })

  it('reads no invite from a link without a token, or with a blank one', () => {
    expect(readInvite('')).toBeNull()
    expect(readInvite('?email=a@example.com')).toBeNull()
    expect(readInvite('?invite=%20%20&email=a@example.com')).toBeNull()
  })

  it('reads an invite without an email as one with an empty email', () => {
    expect(readInvite('?invite=tok')).toEqual({ token: 'tok', email: '' })
  })
})
