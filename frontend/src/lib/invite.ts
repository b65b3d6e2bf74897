// Invite links: what an operator hands to the person they invite, and what the signup page
// reads back. The token travels in the link's query string, the email with it so the form
// starts filled in (Warren checks that the two belong together).

export interface InviteParams {
  token: string
  /** The address the invite is for; empty when the link carries none. */
  email: string
}

/** `<origin>/signup?invite=<token>&email=<email>`, every part URL-encoded. */
export function inviteLink(origin: string, { token, email }: InviteParams): string {
  const url = new URL('/signup', origin)
  url.searchParams.set('invite', token)
  if (email) url.searchParams.set('email', email)
  return url.toString()
}

/** The invite a signup link carries, or null when it carries no (non-blank) token. */
export function readInvite(search: string | URLSearchParams): InviteParams | null {
  const params = typeof search === 'string' ? new URLSearchParams(search) : search
  const token = params.get('invite')?.trim() ?? ''
  if (!token) return null
  return { token, email: params.get('email')?.trim() ?? '' }
}
