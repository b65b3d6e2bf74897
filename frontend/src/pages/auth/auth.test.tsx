import { act, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { getSession, reloadSession } from '../../api/session'
import { openSocket } from '../../test/fakeSocket'
import { json, mockApi, page, problem } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const emptyDashboard = {
  'GET /api/v1/me': json(USER),
  'GET /api/v1/subscriptions': json(page([])),
  'GET /api/v1/queues': json([]),
}

describe('signing up and in', () => {
  it('signs up through the form, keeps no token where scripts could read it, and lands on the dashboard', async () => {
    const http = mockApi({
      ...emptyDashboard,
      'POST /api/v1/auth/signup': json({ user: USER, token: 'new-token' }, 201),
    })
    renderApp('/signup', { signedIn: false })

    await userEvent.type(screen.getByLabelText('Email'), 'me@example.com')
    await userEvent.type(screen.getByLabelText('Password'), 'correct horse battery')
    await userEvent.click(screen.getByRole('button', { name: 'Sign up' }))

    expect(await screen.findByRole('heading', { name: 'Dashboard' })).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/auth/signup')[0].body).toEqual({ email: 'me@example.com', password: 'correct horse battery' })
    expect(getSession()).toEqual({ user: USER })
    // The session is the HttpOnly cookie the answer set; only who is signed in is kept.
    const stored = Object.keys(localStorage).map((key) => localStorage.getItem(key)).join(' ')
    expect(stored).not.toContain('new-token')
    expect(JSON.parse(localStorage.getItem('warren.user') ?? 'null')).toEqual(USER)
    // Later calls carry the cookie, not the token (the dashboard asks for its subscriptions once it has rendered).
    await waitFor(() => expect(http.callsTo('GET /api/v1/subscriptions')).not.toHaveLength(0))
    const [later] = http.callsTo('GET /api/v1/subscriptions')
    expect(later.headers.authorization).toBeUndefined()
    expect(later.credentials).toBe('same-origin')
  })

  it('forgets a session token an older version kept in localStorage', () => {
    localStorage.setItem('warren.token', 'wrn_sess_old')
    localStorage.setItem('warren.user', JSON.stringify(USER))

    reloadSession()

    expect(localStorage.getItem('warren.token')).toBeNull()
    expect(getSession()).toEqual({ user: USER })
  })

  it('shows the API’s detail for a wrong password and stays on the login page', async () => {
    mockApi({ 'POST /api/v1/auth/login': problem(401, 'wrong email or password') })
    renderApp('/login', { signedIn: false })

    await userEvent.type(screen.getByLabelText('Email'), 'me@example.com')
    await userEvent.type(screen.getByLabelText('Password'), 'nope nope nope')
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('wrong email or password')
    expect(screen.getByRole('heading', { name: 'Log in to Warren' })).toBeInTheDocument()
  })

  it('shows a signup validation error next to the password', async () => {
    mockApi({ 'POST /api/v1/auth/signup': problem(422, 'invalid', [{ field: 'password', message: 'must be at least 8 characters' }]) })
    renderApp('/signup', { signedIn: false })

    await userEvent.type(screen.getByLabelText('Email'), 'me@example.com')
    await userEvent.type(screen.getByLabelText('Password'), 'short')
    await userEvent.click(screen.getByRole('button', { name: 'Sign up' }))

    expect(await screen.findByText('must be at least 8 characters')).toBeInTheDocument()
    expect(screen.getByLabelText('Password')).toHaveAccessibleDescription(/must be at least 8 characters/)
  })

  it('logs out: ends the session server-side and returns to the login page', async () => {
    const http = mockApi({ ...emptyDashboard, 'POST /api/v1/auth/logout': { status: 204 } })
    renderApp('/')

    await userEvent.click(await screen.findByRole('button', { name: 'Log out' }))

    expect(await screen.findByRole('heading', { name: 'Log in to Warren' })).toBeInTheDocument()
    const [logout] = http.callsTo('POST /api/v1/auth/logout')
    expect(logout.credentials).toBe('same-origin')
    expect(getSession()).toBeNull()
    expect(localStorage.getItem('warren.user')).toBeNull()
  })

  it('logs out here even when the server refuses the logout', async () => {
    mockApi({ ...emptyDashboard, 'POST /api/v1/auth/logout': problem(403, 'not from Warren’s own pages') })
    renderApp('/')

    await userEvent.click(await screen.findByRole('button', { name: 'Log out' }))

    expect(await screen.findByRole('heading', { name: 'Log in to Warren' })).toBeInTheDocument()
    expect(getSession()).toBeNull()
  })

  it('signs out when the server ends the live connection because the session ended', async () => {
    let loggedOutElsewhere = false
    mockApi({
      ...emptyDashboard,
      'GET /api/v1/me': () => (loggedOutElsewhere ? problem(401, 'the token is invalid, expired or revoked') : json(USER)),
    })
    renderApp('/')
    expect(await screen.findByRole('heading', { name: 'Dashboard' })).toBeInTheDocument()
    const socket = openSocket()
    act(() => socket.acceptConnection())

    loggedOutElsewhere = true
    act(() => socket.serverEmit('disconnect', 'io server disconnect'))

    expect(await screen.findByRole('heading', { name: 'Log in to Warren' })).toBeInTheDocument()
    expect(getSession()).toBeNull()
  })

  it('sends a signed-out visitor of a deep link to login, then back to that page', async () => {
    mockApi({
      ...emptyDashboard,
      'POST /api/v1/auth/login': json({ user: USER, token: 't' }),
      'GET /api/v1/sources': json(page([])),
    })
    renderApp('/sources', { signedIn: false })

    await userEvent.type(await screen.findByLabelText('Email'), 'me@example.com')
    await userEvent.type(screen.getByLabelText('Password'), 'correct horse battery')
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }))

    expect(await screen.findByRole('heading', { name: 'Sources' })).toBeInTheDocument()
  })
})

describe('signing up with an invite', () => {
  it('fills in the email from the invite link and sends the invite’s token with the signup', async () => {
    const http = mockApi({
      ...emptyDashboard,
      'POST /api/v1/auth/signup': json({ user: USER, token: 'new-token' }, 201),
    })
    renderApp('/signup?invite=wrn_inv_a%2Bb&email=me%40example.com', { signedIn: false })

    expect(screen.getByText(/You were invited to this Warren/)).toBeInTheDocument()
    expect(screen.getByLabelText('Email')).toHaveValue('me@example.com')
    await userEvent.type(screen.getByLabelText('Password'), 'correct horse battery')
    await userEvent.click(screen.getByRole('button', { name: 'Sign up' }))

    expect(await screen.findByRole('heading', { name: 'Dashboard' })).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/auth/signup')[0].body).toEqual({ email: 'me@example.com', password: 'correct horse battery', invite: 'wrn_inv_a+b' })
  })

  it('lets the invited person change the prefilled email (Warren decides whether the invite is theirs)', async () => {
    const http = mockApi({ 'POST /api/v1/auth/signup': problem(403, 'this invite is for another email') })
    renderApp('/signup?invite=tok&email=old%40example.com', { signedIn: false })

    await userEvent.clear(screen.getByLabelText('Email'))
    await userEvent.type(screen.getByLabelText('Email'), 'new@example.com')
    await userEvent.type(screen.getByLabelText('Password'), 'correct horse battery')
    await userEvent.click(screen.getByRole('button', { name: 'Sign up' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('this invite is for another email')
    expect(screen.getByText('Ask the operator of this Warren for a new invite link.')).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/auth/signup')[0].body).toEqual({ email: 'new@example.com', password: 'correct horse battery', invite: 'tok' })
  })

  it('shows Warren’s 403 detail when signup is by invite only, and says how to get one', async () => {
    const http = mockApi({ 'POST /api/v1/auth/signup': problem(403, 'signup is by invite only') })
    renderApp('/signup', { signedIn: false })

    await userEvent.type(screen.getByLabelText('Email'), 'me@example.com')
    await userEvent.type(screen.getByLabelText('Password'), 'correct horse battery')
    await userEvent.click(screen.getByRole('button', { name: 'Sign up' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('signup is by invite only')
    expect(screen.getByText('Ask the operator of this Warren for an invite link, and open it to sign up.')).toBeInTheDocument()
    expect(screen.getByRole('heading', { name: 'Create your Warren account' })).toBeInTheDocument()
    // No invite in the link: none is sent.
    expect(http.callsTo('POST /api/v1/auth/signup')[0].body).toEqual({ email: 'me@example.com', password: 'correct horse battery' })
    expect(getSession()).toBeNull()
  })

  it('gives no invite hint for other refusals', async () => {
    mockApi({ 'POST /api/v1/auth/signup': problem(409, 'email already registered') })
    renderApp('/signup', { signedIn: false })

    await userEvent.type(screen.getByLabelText('Email'), 'me@example.com')
    await userEvent.type(screen.getByLabelText('Password'), 'correct horse battery')
    await userEvent.click(screen.getByRole('button', { name: 'Sign up' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('email already registered')
    expect(document.querySelector('[data-refusal-hint]')).toBeNull()
  })
})

describe('a disabled account', () => {
  it('goes back to the login page on its next API call (401)', async () => {
    let disabled = false
    mockApi({
      ...emptyDashboard,
      'GET /api/v1/sources': () => (disabled ? problem(401, 'the token is invalid, expired or revoked') : json(page([]))),
    })
    renderApp('/')
    expect(await screen.findByRole('heading', { name: 'Dashboard' })).toBeInTheDocument()

    disabled = true
    await userEvent.click(screen.getByRole('link', { name: 'Sources' }))

    expect(await screen.findByRole('heading', { name: 'Log in to Warren' })).toBeInTheDocument()
    expect(getSession()).toBeNull()
  })
})
