import { screen, waitFor } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { mockApi, page, problem, json } from '../test/http'
import { renderApp, signIn, USER } from '../test/render'
import { ApiError, api } from './client'
import { getSession } from './session'

describe('the api client', () => {
  it('calls a relative /api/v1 URL with the session cookie and no token of its own', async () => {
    const http = mockApi({ 'GET /api/v1/sources': json(page([])) })
    signIn()

    await api('/sources', { query: { limit: 10, cursor: undefined } })

    const [call] = http.calls
    expect(call.url).toBe('/api/v1/sources?limit=10')
    expect(call.credentials).toBe('same-origin')
    expect(call.headers.authorization).toBeUndefined()
  })

  it('keeps the session when a wrong password at login answers 401', async () => {
    mockApi({ 'POST /api/v1/auth/login': problem(401, 'wrong email or password') })
    signIn()

    await expect(api('/auth/login', { method: 'POST', body: {}, anonymous: true })).rejects.toThrow('wrong email or password')

    expect(getSession()?.user).toEqual(USER)
  })

  it('ends the session on a 401 from an authenticated call (the cookie expired or was revoked)', async () => {
    mockApi({ 'GET /api/v1/subscriptions': problem(401, 'session expired') })
    signIn()

    const error = (await api('/subscriptions').catch((e: unknown) => e)) as ApiError

    expect(error).toBeInstanceOf(ApiError)
    expect(error.status).toBe(401)
    expect(getSession()).toBeNull()
    expect(localStorage.getItem('warren.user')).toBeNull()
  })

  it('maps a 422 problem to messages by bare field name', async () => {
    mockApi({
      'POST /api/v1/subscriptions': problem(422, 'the request has invalid fields', [
        { field: 'target_url', message: 'must be an http or https URL' },
        { field: 'event_types[1]', message: 'must be 1 to 255 characters' },
      ]),
    })
    signIn()

    const error = (await api('/subscriptions', { method: 'POST', body: {} }).catch((e: unknown) => e)) as ApiError

    expect(error.fieldErrors()).toEqual({
      target_url: 'must be an http or https URL',
      event_types: 'must be 1 to 255 characters',
    })
  })

  it('turns an unreachable server into a readable error', async () => {
    const { vi } = await import('vitest')
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))))

    await expect(api('/me')).rejects.toThrow(/Could not reach Warren/)
  })
})

describe('a 401 anywhere in the app', () => {
  it('sends the person back to the login page', async () => {
    mockApi({
      'GET /api/v1/me': problem(401, 'authentication required'),
      'GET /api/v1/sources': problem(401, 'authentication required'),
    })

    renderApp('/sources')

    expect(await screen.findByRole('heading', { name: 'Log in to Warren' })).toBeInTheDocument()
    expect(screen.getByLabelText('Email')).toBeInTheDocument()
    await waitFor(() => expect(getSession()).toBeNull())
  })
})
