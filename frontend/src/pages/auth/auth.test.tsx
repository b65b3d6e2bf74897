import { screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { getSession } from '../../api/session'
import { json, mockApi, page, problem } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const emptyDashboard = {
  'GET /api/v1/me': json(USER),
  'GET /api/v1/subscriptions': json(page([])),
  'GET /api/v1/queues': json([]),
}

describe('signing up and in', () => {
  it('signs up through the form, keeps the token and lands on the dashboard', async () => {
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
    expect(getSession()?.token).toBe('new-token')
    expect(localStorage.getItem('warren.token')).toBe('new-token')
    // Later calls carry it (the dashboard asks for its subscriptions once it has rendered).
    await waitFor(() => expect(http.callsTo('GET /api/v1/subscriptions')).not.toHaveLength(0))
    expect(http.callsTo('GET /api/v1/subscriptions')[0].headers.authorization).toBe('Bearer new-token')
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
    expect(http.callsTo('POST /api/v1/auth/logout')).toHaveLength(1)
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
