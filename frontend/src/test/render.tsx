// Renders the whole app at a URL, as a signed-in (or signed-out) person would see it.
import { render } from '@testing-library/react'
import { MemoryRouter } from 'react-router-dom'
import { App } from '../App'
import { AppProviders, makeQueryClient } from '../AppProviders'
import { endSession, startSession } from '../api/session'
import type { User } from '../api/types'

export const USER = { id: '0190a000-0000-7000-8000-000000000001', email: 'me@example.com', role: 'operator' as const }

/** Signs in as `USER`: as after a login, whose answer set the (HttpOnly) session cookie. */
export function signIn() {
  startSession(USER)
}

export function renderApp(path: string, { signedIn = true, user = USER as User } = {}) {
  if (signedIn) startSession(user)
  else endSession()
  const client = makeQueryClient({ retry: false })
  return {
    client,
    ...render(
      <AppProviders client={client}>
        <MemoryRouter initialEntries={[path]}>
          <App />
        </MemoryRouter>
      </AppProviders>,
    ),
  }
}
