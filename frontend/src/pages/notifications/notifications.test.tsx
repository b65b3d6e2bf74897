import { act, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { openSocket } from '../../test/fakeSocket'
import { json, mockApi, page, problem, type Route } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const SUB = { id: '0190a000-0000-7000-8000-0000000000b1', name: 'orders', event_types: [], is_active: true, circuit_state: 'closed' }
const OTHER = { ...SUB, id: '0190a000-0000-7000-8000-0000000000b2', name: 'ledger' }

const note = (id: string, type: string, over: Record<string, unknown> = {}) => ({
  id,
  type,
  at: '2025-01-01T10:00:00Z',
  subscription_id: SUB.id,
  data: {},
  read: false,
  ...over,
})

const DEAD = note('n-3', 'delivery.dead', { data: { count: 3, delivery_id: 'd-9' } })
const DISABLED = note('n-2', 'subscription.disabled', { subscription_id: OTHER.id, data: { reason: 'the receiver answered 410 Gone' } })
const RECOVERED = note('n-1', 'subscription.recovered', { read: true, data: { count: 1 } })

function setup(notifications: Route, extra: Record<string, Route> = {}) {
  return mockApi({
    'GET /api/v1/me': () => json(USER),
    'GET /api/v1/sources': () => json(page([])),
    'GET /api/v1/subscriptions': () => json(page([SUB, OTHER])),
    'GET /api/v1/notifications': notifications,
    ...extra,
  })
}

const navLink = () => within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: /^Notifications/ })

describe('the notifications page', () => {
  it('says what happened to which subscription, how many times, and which are unread', async () => {
    setup(() => json({ ...page([DEAD, DISABLED, RECOVERED]), unread: 2 }))
    renderApp('/notifications')

    const items = within(await screen.findByRole('list', { name: 'Notifications' })).getAllByRole('listitem')
    expect(items.map((i) => i.textContent)).toEqual([
      expect.stringMatching(/^NewA delivery to orders ran out of attempts and went to the dead letters\.\s*\(3 times\)/),
      expect.stringMatching(/^Newledger was disabled by Warren: the receiver answered 410 Gone\. New events are held until you resume it\./),
      expect.stringMatching(/^orders recovered: it delivers again\./),
    ])
    expect(within(items[0]).getByRole('link', { name: 'orders' })).toHaveAttribute('href', `/subscriptions/${SUB.id}`)
    expect(within(items[0]).getByRole('link', { name: 'View delivery' })).toHaveAttribute('href', '/deliveries/d-9')
    expect(items[0]).toHaveTextContent('delivery.dead')
    expect(within(items[1]).getByRole('link', { name: 'ledger' })).toHaveAttribute('href', `/subscriptions/${OTHER.id}`)
    // A count of 1 is not worth saying.
    expect(items[2]).not.toHaveTextContent('times')
    expect(screen.getByText('2 unread.')).toBeInTheDocument()
    expect(navLink()).toHaveAccessibleName('Notifications 2 unread')
  })

  it('marks all read up to the newest shown, and the badge goes', async () => {
    let read = false
    const http = setup(
      () => (read ? json({ ...page([{ ...DEAD, read: true }, { ...DISABLED, read: true }]), unread: 0 }) : json({ ...page([DEAD, DISABLED]), unread: 2 })),
      {
        'POST /api/v1/notifications/read': () => {
          read = true
          return { status: 204 }
        },
      },
    )
    renderApp('/notifications')

    await screen.findByRole('list', { name: 'Notifications' })
    await waitFor(() => expect(navLink()).toHaveAccessibleName('Notifications 2 unread'))
    await userEvent.click(screen.getByRole('button', { name: 'Mark all read' }))

    expect(await screen.findByText('Nothing unread.')).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/notifications/read')[0].body).toEqual({ up_to: DEAD.id })
    await waitFor(() => expect(navLink()).toHaveAccessibleName('Notifications'))
    expect(screen.getByRole('button', { name: 'Mark all read' })).toBeDisabled()
    expect(screen.queryByText('New')).toBeNull()
  })

  it('pages on with the cursor', async () => {
    const http = setup((call) =>
      call.query.get('cursor') === 'c2' ? json({ ...page([RECOVERED]), unread: 1 }) : json({ ...page(call.query.get('limit') === '1' ? [DEAD] : [DEAD, DISABLED], 'c2'), unread: 1 }),
    )
    renderApp('/notifications')

    const list = await screen.findByRole('list', { name: 'Notifications' })
    await userEvent.click(screen.getByRole('button', { name: 'Load more' }))

    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(3))
    expect(http.callsTo('GET /api/v1/notifications').some((c) => c.query.get('cursor') === 'c2')).toBe(true)
  })

  it('shows an empty state, with nothing to mark read', async () => {
    setup(() => json({ ...page([]), unread: 0 }))
    renderApp('/notifications')

    expect(await screen.findByText('No notifications yet.')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Mark all read' })).toBeDisabled()
    expect(screen.getByRole('link', { name: 'Notification settings' })).toHaveAttribute('href', '/notifications/settings')
  })

  it('shows the API’s detail when marking read fails', async () => {
    setup(() => json({ ...page([DEAD]), unread: 1 }), { 'POST /api/v1/notifications/read': () => problem(503, 'the database is away') })
    renderApp('/notifications')

    await userEvent.click(await screen.findByRole('button', { name: 'Mark all read' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('Could not mark them read: the database is away')
  })
})

describe('the unread badge in the navigation', () => {
  it('appears on any page when a notification arrives on the socket, and the open list shows it', async () => {
    let arrived = false
    const http = setup(() => (arrived ? json({ ...page([DEAD]), unread: 1 }) : json({ ...page([]), unread: 0 })))
    renderApp('/notifications')

    expect(await screen.findByText('No notifications yet.')).toBeInTheDocument()
    await waitFor(() => expect(http.callsTo('GET /api/v1/notifications').some((c) => c.query.get('limit') === '1')).toBe(true))
    expect(navLink()).toHaveAccessibleName('Notifications')

    arrived = true
    act(() => openSocket().serverEmit('notification', DEAD))

    await waitFor(() => expect(navLink()).toHaveAccessibleName('Notifications 1 unread'))
    expect(await screen.findByText(/A delivery to/)).toBeInTheDocument()
  })

  it('is not shown while nothing is unread, nor when the count cannot be read', async () => {
    setup(() => problem(503, 'the database is away'))
    renderApp('/sources')

    await screen.findByRole('heading', { name: 'Sources' })
    expect(navLink()).toHaveAccessibleName('Notifications')
  })
})
