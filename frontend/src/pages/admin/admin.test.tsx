import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { json, mockApi, page, problem } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const PLAIN = { id: '0190a000-0000-7000-8000-000000000002', email: 'bob@example.com', role: 'user' as const }

const userRow = (over = {}) => ({
  id: PLAIN.id, email: PLAIN.email, role: 'user', disabled: false, created_at: '2025-01-02T00:00:00Z',
  sources: 2, subscriptions: 3, events_24h: 417, dead_letters: 5, open_circuits: 1, ...over,
})
const operatorRow = { ...userRow(), id: USER.id, email: USER.email, role: 'operator', sources: 0, subscriptions: 0, events_24h: 0, dead_letters: 0, open_circuits: 0 }

const sub = (id: string, name: string, over = {}) => ({
  id, name, target_url: `https://${name}.example.com/hook`, source_id: null, event_types: [], timeout_ms: 10000, max_attempts: 8,
  rate_limit_per_sec: 100, payload_template: null, headers: {}, ordering: 'none', on_dead: 'skip', signing_secret: null,
  is_active: true, circuit_state: 'open', created_at: '', updated_at: '2025-01-03T00:00:00Z', user_id: PLAIN.id, owner_email: PLAIN.email, ...over,
})

/** Every admin route, answered 403 as Warren does for a user who is not the operator. */
const forbidden = {
  'GET /api/v1/admin/users': problem(403, 'operators only'),
  'GET /api/v1/admin/subscriptions': problem(403, 'operators only'),
  'GET /api/v1/invites': problem(403, 'operators only'),
  'GET /api/v1/queues': problem(403, 'operators only'),
}

const adminCalls = (http: ReturnType<typeof mockApi>) => http.calls.filter((c) => /\/(admin|invites|queues)/.test(c.path))

let confirm: ReturnType<typeof vi.spyOn>
beforeEach(() => {
  confirm = vi.spyOn(window, 'confirm').mockReturnValue(true)
})
afterEach(() => confirm.mockRestore())

describe('who sees the Admin section', () => {
  it('shows the operator an Admin link in the navigation that leads to the users', async () => {
    mockApi({ 'GET /api/v1/me': json(USER), 'GET /api/v1/sources': json(page([])), 'GET /api/v1/admin/users': json(page([operatorRow])) })
    renderApp('/sources')

    const nav = screen.getByRole('navigation', { name: 'Main' })
    await userEvent.click(await within(nav).findByRole('link', { name: 'Admin' }))

    expect(await screen.findByRole('heading', { name: 'Admin' })).toBeInTheDocument()
    expect(await screen.findByRole('table', { name: 'Users' })).toHaveTextContent(USER.email)
  })

  it('gives a user who is not the operator no Admin link, and asks for no operator route', async () => {
    const http = mockApi({ 'GET /api/v1/me': json(PLAIN), 'GET /api/v1/sources': json(page([])), ...forbidden })
    renderApp('/sources', { user: PLAIN })

    expect(await screen.findByRole('heading', { name: 'Sources' })).toBeInTheDocument()
    const nav = screen.getByRole('navigation', { name: 'Main' })
    expect(within(nav).getByRole('link', { name: 'Sources' })).toBeInTheDocument()
    expect(within(nav).queryByRole('link', { name: 'Admin' })).not.toBeInTheDocument()
    expect(adminCalls(http)).toHaveLength(0)
  })

  it.each(['/admin', '/admin/users', '/admin/invites', '/admin/circuits', '/admin/queues'])('tells a user who opens %s that it is the operator’s, without calling it', async (path) => {
    const http = mockApi({ 'GET /api/v1/me': json(PLAIN), ...forbidden })
    renderApp(path, { user: PLAIN })

    expect(await screen.findByText('Admin is for the operator of this Warren.')).toBeInTheDocument()
    expect(screen.queryByRole('heading', { name: 'Admin' })).not.toBeInTheDocument()
    expect(adminCalls(http)).toHaveLength(0)
  })

  it('follows what /me says over a stale stored role', async () => {
    const http = mockApi({ 'GET /api/v1/me': json(PLAIN), ...forbidden })
    // A session stored before roles existed has none: /me is asked, and says "user".
    renderApp('/admin/users', { user: { id: PLAIN.id, email: PLAIN.email } })

    expect(await screen.findByText('Admin is for the operator of this Warren.')).toBeInTheDocument()
    expect(http.callsTo('GET /api/v1/me')).toHaveLength(1)
    expect(adminCalls(http)).toHaveLength(0)
  })
})

describe('the users table', () => {
  it('lists each user with their counts, and no Disable button on the operator’s own row', async () => {
    mockApi({ 'GET /api/v1/me': json(USER), 'GET /api/v1/admin/users': json(page([operatorRow, userRow()])) })
    renderApp('/admin/users')

    const table = await screen.findByRole('table', { name: 'Users' })
    const [, own, bob] = within(table).getAllByRole('row')
    expect(bob).toHaveTextContent(PLAIN.email)
    expect(within(bob).getAllByRole('cell').map((c) => c.textContent)).toEqual(expect.arrayContaining(['2', '3', '417', '5', '1', 'active']))
    expect(own).toHaveTextContent('(you)')
    expect(within(own).queryByRole('button')).not.toBeInTheDocument()
  })

  it('disables a user after confirming, and shows them disabled with an Enable button', async () => {
    let disabled = false
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/admin/users': () => json(page([operatorRow, userRow({ disabled })])),
      [`POST /api/v1/admin/users/${PLAIN.id}/disable`]: () => {
        disabled = true
        return json(userRow({ disabled: true }))
      },
    })
    renderApp('/admin/users')

    const row = (await screen.findByText(PLAIN.email)).closest('tr')!
    await userEvent.click(within(row).getByRole('button', { name: 'Disable' }))

    expect(confirm).toHaveBeenCalledWith(expect.stringContaining(PLAIN.email))
    expect(await within(row).findByRole('button', { name: 'Enable' })).toBeInTheDocument()
    expect(row).toHaveTextContent('disabled')
    expect(http.callsTo(`POST /api/v1/admin/users/${PLAIN.id}/disable`)).toHaveLength(1)
  })

  it('disables nobody when the confirmation is cancelled', async () => {
    confirm.mockReturnValue(false)
    const http = mockApi({ 'GET /api/v1/me': json(USER), 'GET /api/v1/admin/users': json(page([userRow()])) })
    renderApp('/admin/users')

    await userEvent.click(await screen.findByRole('button', { name: 'Disable' }))

    expect(confirm).toHaveBeenCalled()
    expect(http.calls.filter((c) => c.method === 'POST')).toHaveLength(0)
  })

  it('enables a disabled user after confirming', async () => {
    let disabled = true
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/admin/users': () => json(page([userRow({ disabled })])),
      [`POST /api/v1/admin/users/${PLAIN.id}/enable`]: () => {
        disabled = false
        return json(userRow({ disabled: false }))
      },
    })
    renderApp('/admin/users')

    await userEvent.click(await screen.findByRole('button', { name: 'Enable' }))

    expect(await screen.findByRole('button', { name: 'Disable' })).toBeInTheDocument()
    expect(http.callsTo(`POST /api/v1/admin/users/${PLAIN.id}/enable`)).toHaveLength(1)
  })

  it('shows why Warren refused to disable a user', async () => {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/admin/users': json(page([userRow()])),
      [`POST /api/v1/admin/users/${PLAIN.id}/disable`]: problem(409, 'an operator cannot be disabled'),
    })
    renderApp('/admin/users')

    await userEvent.click(await screen.findByRole('button', { name: 'Disable' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('Could not disable: an operator cannot be disabled')
  })
})

describe('invites', () => {
  const created = { id: 'inv-1', email: 'new@example.com', token: 'wrn_inv_secret+token', expires_at: '2030-01-08T00:00:00Z' }
  const listed = { id: 'inv-1', email: 'new@example.com', expires_at: '2030-01-08T00:00:00Z', used_at: null, created_at: '2030-01-01T00:00:00Z' }

  it('invites an email and shows its signup link and token once, each with a copy button', async () => {
    let invites: unknown[] = []
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/invites': () => json(page(invites)),
      'POST /api/v1/invites': () => {
        invites = [listed]
        return json(created, 201)
      },
    })
    renderApp('/admin/invites')
    expect(await screen.findByText('No invites yet.')).toBeInTheDocument()

    await userEvent.type(screen.getByLabelText('Email'), ' new@example.com ')
    await userEvent.click(screen.getByRole('button', { name: 'Create invite' }))

    const link = await screen.findByLabelText('Invite link')
    expect(link).toHaveTextContent(`${window.location.origin}/signup?invite=wrn_inv_secret%2Btoken&email=new%40example.com`)
    expect(screen.getByLabelText('Invite token')).toHaveTextContent(created.token)
    expect(screen.getByRole('button', { name: 'Copy link' })).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Copy token' })).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/invites')[0].body).toEqual({ email: 'new@example.com' })
    // The list shows it without its token.
    const list = await screen.findByRole('list', { name: 'Invites' })
    expect(list).toHaveTextContent('new@example.com')
    expect(list).not.toHaveTextContent(created.token)
    expect(screen.getByLabelText('Email')).toHaveValue('')
  })

  it('reads the invites again each time the page opens, so one just used shows as used', async () => {
    let usedAt: string | null = null
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/admin/users': json(page([operatorRow])),
      'GET /api/v1/invites': () => json(page([{ ...listed, used_at: usedAt }])),
    })
    renderApp('/admin/invites')
    const admin = screen.getByRole('navigation', { name: 'Admin' })
    expect(await screen.findByText('open')).toBeInTheDocument()

    usedAt = '2030-01-02T00:00:00Z'
    await userEvent.click(within(admin).getByRole('link', { name: 'Users' }))
    await screen.findByRole('table', { name: 'Users' })
    await userEvent.click(within(admin).getByRole('link', { name: 'Invites' }))

    expect(await screen.findByText('used')).toBeInTheDocument()
    expect(http.callsTo('GET /api/v1/invites')).toHaveLength(2)
  })

  it('shows a bad email next to the field', async () => {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/invites': json(page([])),
      'POST /api/v1/invites': problem(422, 'invalid', [{ field: 'email', message: 'must be an email address' }]),
    })
    renderApp('/admin/invites')

    await userEvent.type(await screen.findByLabelText('Email'), 'nope')
    await userEvent.click(screen.getByRole('button', { name: 'Create invite' }))

    await waitFor(() => expect(screen.getByLabelText('Email')).toHaveAccessibleDescription('must be an email address'))
    expect(screen.queryByLabelText('Invite link')).not.toBeInTheDocument()
  })

  it('shows Warren’s refusal of an invite with its detail', async () => {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/invites': json(page([])),
      'POST /api/v1/invites': problem(409, 'new@example.com already has an account'),
    })
    renderApp('/admin/invites')

    await userEvent.type(await screen.findByLabelText('Email'), 'new@example.com')
    await userEvent.click(screen.getByRole('button', { name: 'Create invite' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('new@example.com already has an account')
  })

  it('lists open, used and expired invites and revokes an open one after confirming', async () => {
    let invites = [
      listed,
      { ...listed, id: 'inv-2', email: 'used@example.com', used_at: '2030-01-02T00:00:00Z' },
      { ...listed, id: 'inv-3', email: 'late@example.com', expires_at: '2020-01-01T00:00:00Z' },
    ]
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/invites': () => json(page(invites)),
      'DELETE /api/v1/invites/inv-1': () => {
        invites = invites.slice(1)
        return { status: 204 }
      },
    })
    renderApp('/admin/invites')

    const items = await within(await screen.findByRole('list', { name: 'Invites' })).findAllByRole('listitem')
    expect(items.map((i) => i.textContent)).toEqual([
      expect.stringMatching(/new@example\.com.*open/),
      expect.stringMatching(/used@example\.com.*used/),
      expect.stringMatching(/late@example\.com.*expired/),
    ])
    expect(within(items[1]).queryByRole('button', { name: 'Revoke' })).not.toBeInTheDocument()
    expect(within(items[2]).queryByRole('button', { name: 'Revoke' })).not.toBeInTheDocument()

    await userEvent.click(within(items[0]).getByRole('button', { name: 'Revoke' }))

    expect(confirm).toHaveBeenCalledWith(expect.stringContaining('new@example.com'))
    await waitFor(() => expect(screen.queryByText('new@example.com')).not.toBeInTheDocument())
    expect(http.callsTo('DELETE /api/v1/invites/inv-1')).toHaveLength(1)
  })
})

describe('open circuits', () => {
  it('lists every tenant’s open and half-open subscriptions with their owner', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/admin/subscriptions': (call) =>
        json(page(call.query.get('circuit_state') === 'open' ? [sub('s-1', 'billing')] : [sub('s-2', 'crm', { circuit_state: 'half_open', owner_email: 'carol@example.com' })])),
    })
    renderApp('/admin/circuits')

    const table = await screen.findByRole('table', { name: 'Open circuits' })
    const rows = (await within(table).findAllByRole('row')).slice(1)
    expect(rows.map((r) => r.textContent)).toEqual([
      expect.stringMatching(/billing.*bob@example\.com.*open.*billing\.example\.com/),
      expect.stringMatching(/crm.*carol@example\.com.*half open/),
    ])
    expect(http.callsTo('GET /api/v1/admin/subscriptions').map((c) => c.query.get('circuit_state')).sort()).toEqual(['half_open', 'open'])
  })

  it('names the owner whether the server calls the field owner_email or email', async () => {
    const { owner_email: _, ...withoutOwnerEmail } = sub('s-3', 'erp')
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/admin/subscriptions': (call) => json(page(call.query.get('circuit_state') === 'open' ? [{ ...withoutOwnerEmail, email: 'dave@example.com' }] : [])),
    })
    renderApp('/admin/circuits')

    const table = await screen.findByRole('table', { name: 'Open circuits' })
    expect(await within(table).findByText('dave@example.com')).toBeInTheDocument()
  })

  it('says so when no circuit is open', async () => {
    mockApi({ 'GET /api/v1/me': json(USER), 'GET /api/v1/admin/subscriptions': json(page([])) })
    renderApp('/admin/circuits')
    expect(await screen.findByText('No open circuits.')).toBeInTheDocument()
  })

  it('shows the API’s detail when the list fails', async () => {
    mockApi({ 'GET /api/v1/me': json(USER), 'GET /api/v1/admin/subscriptions': problem(503, 'the database is unavailable') })
    renderApp('/admin/circuits')
    expect(await screen.findByRole('alert')).toHaveTextContent('the database is unavailable')
  })
})

describe('the broker’s queues', () => {
  it('shows the queues from deliver to graveyard with a link to the RabbitMQ console', async () => {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/queues': json([
        { name: 'warren.graveyard', messages: 2, messages_unacked: 0, consumers: 0, kind: 'graveyard' },
        { name: 'warren.retry.30s', messages: 7, messages_unacked: 0, consumers: 0, kind: 'retry' },
        { name: 'warren.deliver', messages: 1, messages_unacked: 3, consumers: 2, kind: 'deliver' },
      ]),
    })
    renderApp('/admin/queues')

    const rows = (await screen.findAllByRole('row')).slice(1)
    expect(rows.map((r) => r.querySelector('td')?.textContent)).toEqual(['warren.deliver', 'warren.retry.30s', 'warren.graveyard'])
    expect(rows[1]).toHaveTextContent('7')
    expect(screen.getByRole('link', { name: 'RabbitMQ console' })).toHaveAttribute('href', 'http://localhost:15672/#/queues')
  })

  it('explains a queues error with the API’s detail', async () => {
    mockApi({ 'GET /api/v1/me': json(USER), 'GET /api/v1/queues': problem(503, 'RabbitMQ is unavailable') })
    renderApp('/admin/queues')
    expect(await screen.findByText(/RabbitMQ is unavailable/)).toBeInTheDocument()
  })
})
