import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'
import type { Subscription } from '../../api'
import { json, mockApi, page, problem, type Reply, type Route } from '../../test/http'
import { renderApp, USER } from '../../test/render'

// Receiver outages: pausing, what is held meanwhile, resuming with it delivered or discarded,
// and replaying a time range.

const SUB: Subscription = {
  id: '0190a000-0000-7000-8000-0000000000b1',
  name: 'orders',
  target_url: 'https://example.com/hook',
  source_id: null,
  event_types: [],
  timeout_ms: 10000,
  max_attempts: 8,
  rate_limit_per_sec: 100,
  payload_template: null,
  headers: {},
  ordering: 'none',
  on_dead: 'skip',
  signing_secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0',
  is_active: true,
  disabled_reason: null,
  circuit_state: 'closed',
  held_count: 0,
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-01T00:00:00Z',
}
const PAUSED: Subscription = { ...SUB, is_active: false, disabled_reason: 'paused' }
const ONE = `/api/v1/subscriptions/${SUB.id}`

const delivery = (id: string, status: string) => ({
  id,
  event_id: `ev-${id}`,
  subscription_id: SUB.id,
  status,
  attempt_count: 0,
  next_attempt_at: null,
  created_at: '2025-01-01T00:00:00Z',
})

function setup(subscription: () => Subscription, extra: Record<string, Reply | Route> = {}) {
  return mockApi({
    'GET /api/v1/me': json(USER),
    'GET /api/v1/sources': json(page([])),
    'GET /api/v1/subscriptions': () => json(page([subscription()])),
    [`GET ${ONE}`]: () => json(subscription()),
    [`GET ${ONE}/deliveries`]: json(page([])),
    [`GET ${ONE}/stats`]: json({ window: '24h', total: 0, succeeded: 0, failed: 0, dead: 0, success_rate: null, latency_ms: { avg: null, p50: null, p95: null, p99: null }, series: [] }),
    ...extra,
  })
}

const stateBanner = async (text: RegExp) => (await screen.findByText(text)).closest('[role=status]') as HTMLElement

describe('pausing and resuming a subscription', () => {
  it('pauses an active subscription, then shows what it holds and offers Resume instead of Pause', async () => {
    let current = SUB
    const http = setup(() => current, {
      [`POST ${ONE}/pause`]: () => {
        current = { ...PAUSED, held_count: 2 }
        return json({ ...PAUSED, held_count: 0 })
      },
    })
    renderApp(`/subscriptions/${SUB.id}`)

    await userEvent.click(await screen.findByRole('button', { name: 'Pause' }))

    await waitFor(() => expect(http.callsTo(`POST ${ONE}/pause`)).toHaveLength(1))
    const banner = await stateBanner(/Paused\. New events are held/)
    expect(await within(banner).findByText('2 deliveries held.')).toBeInTheDocument()
    expect(screen.getByText('2 held')).toBeInTheDocument()
    expect(screen.getByText('paused')).toBeInTheDocument()
    expect(screen.queryByRole('button', { name: 'Pause' })).toBeNull()
    expect(within(banner).getByLabelText('Deliver held')).toBeChecked()
    expect(within(banner).getByLabelText('Discard held')).not.toBeChecked()
    expect(within(banner).getByRole('button', { name: 'Resume' })).toBeEnabled()
  })

  it('resumes with the held deliveries delivered, and says they are being released', async () => {
    let current: Subscription = { ...PAUSED, held_count: 3 }
    const http = setup(() => current, {
      [`POST ${ONE}/enable`]: () => {
        current = { ...SUB, held_count: 3 }
        return json(current)
      },
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const banner = await stateBanner(/Paused\./)
    await userEvent.click(within(banner).getByRole('button', { name: 'Resume' }))

    await waitFor(() => expect(http.callsTo(`POST ${ONE}/enable`)).toHaveLength(1))
    expect(http.callsTo(`POST ${ONE}/enable`)[0].body).toEqual({ held: 'deliver' })
    expect(await screen.findByText(/Releasing 3 held deliveries/)).toBeInTheDocument()
    expect(screen.getByText('Releasing 3 held')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Pause' })).toBeInTheDocument()
  })

  it('discards the held deliveries when asked to, after confirming', async () => {
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(true)
    const http = setup(() => ({ ...PAUSED, held_count: 4 }), { [`POST ${ONE}/enable`]: json(SUB) })
    renderApp(`/subscriptions/${SUB.id}`)

    const banner = await stateBanner(/Paused\./)
    await userEvent.click(within(banner).getByLabelText('Discard held'))
    await userEvent.click(within(banner).getByRole('button', { name: 'Resume' }))

    await waitFor(() => expect(http.callsTo(`POST ${ONE}/enable`)).toHaveLength(1))
    expect(http.callsTo(`POST ${ONE}/enable`)[0].body).toEqual({ held: 'discard' })
    expect(confirm).toHaveBeenCalledWith(expect.stringContaining('Discard 4 held deliveries'))
  })

  it('shows why a pause or resume was refused', async () => {
    setup(() => SUB, { [`POST ${ONE}/pause`]: problem(503, 'the database is away') })
    renderApp(`/subscriptions/${SUB.id}`)

    await userEvent.click(await screen.findByRole('button', { name: 'Pause' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('Could not pause: the database is away')
  })

  it('shows held and releasing counts in the subscription list', async () => {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([])),
      'GET /api/v1/subscriptions': json(
        page([
          { ...PAUSED, id: 's-1', name: 'paused one', held_count: 5 },
          { ...SUB, id: 's-2', name: 'catching up', held_count: 3 },
          { ...SUB, id: 's-3', name: 'gone', is_active: false, disabled_reason: 'receiver answered 410', held_count: 1 },
        ]),
      ),
    })
    renderApp('/subscriptions')

    const row = async (name: string) => (await screen.findByRole('link', { name })).closest('li') as HTMLElement
    expect(await row('paused one')).toHaveTextContent(/paused.*5 held/)
    expect(await row('catching up')).toHaveTextContent(/active.*Releasing 3 held/)
    expect(await row('gone')).toHaveTextContent(/disabled.*1 held.*receiver answered 410/)
  })
})

describe('a subscription’s deliveries by status', () => {
  it('filters by each status, held and discarded included', async () => {
    const http = setup(() => ({ ...PAUSED, held_count: 2 }), {
      [`GET ${ONE}/deliveries`]: (call) =>
        json(page(call.query.get('status') === 'held' ? [delivery('d-1', 'held'), delivery('d-2', 'held')] : [delivery('d-0', 'succeeded')])),
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const status = await screen.findByLabelText('Status')
    expect(within(status).getAllByRole('option').map((o) => o.textContent)).toEqual(['Any status', 'pending', 'retrying', 'succeeded', 'dead', 'held', 'discarded'])
    await screen.findByRole('link', { name: 'd-0' })

    await userEvent.selectOptions(status, 'held')

    const list = await screen.findByRole('list', { name: 'Deliveries' })
    await within(list).findByRole('link', { name: 'd-1' })
    expect(within(list).getAllByText('held')).toHaveLength(2)
    expect(http.callsTo(`GET ${ONE}/deliveries`).at(-1)!.query.get('status')).toBe('held')
  })

  it('says when no delivery has that status', async () => {
    setup(() => SUB)
    renderApp(`/subscriptions/${SUB.id}`)

    await userEvent.selectOptions(await screen.findByLabelText('Status'), 'discarded')

    expect(await screen.findByText('No discarded deliveries.')).toBeInTheDocument()
  })
})

describe('replaying a time range', () => {
  const section = async () => (await screen.findByRole('heading', { name: 'Replay a time range' })).closest('section') as HTMLElement

  it('sends the range as RFC 3339 and says how many events were replayed', async () => {
    const http = setup(() => SUB, { 'POST /api/v1/events/replay': json({ replayed: 3 }, 202) })
    renderApp(`/subscriptions/${SUB.id}`)

    const card = await section()
    await userEvent.type(within(card).getByLabelText('From'), '2025-01-01T10:00')
    await userEvent.type(within(card).getByLabelText('To'), '2025-01-01T12:30')
    await userEvent.click(within(card).getByRole('button', { name: 'Replay' }))

    expect(await within(card).findByText('Replayed 3 events.')).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/events/replay')[0].body).toEqual({
      subscription_id: SUB.id,
      from: new Date('2025-01-01T10:00').toISOString(),
      to: new Date('2025-01-01T12:30').toISOString(),
    })
  })

  it('leaves To out when it is empty (the server reads it as now)', async () => {
    const http = setup(() => SUB, { 'POST /api/v1/events/replay': json({ replayed: 1 }, 202) })
    renderApp(`/subscriptions/${SUB.id}`)

    const card = await section()
    await userEvent.type(within(card).getByLabelText('From'), '2025-01-01T10:00')
    await userEvent.click(within(card).getByRole('button', { name: 'Replay' }))

    expect(await within(card).findByText('Replayed 1 event.')).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/events/replay')[0].body).toEqual({ subscription_id: SUB.id, from: new Date('2025-01-01T10:00').toISOString() })
  })

  it('checks the range itself before calling the API', async () => {
    const http = setup(() => SUB)
    renderApp(`/subscriptions/${SUB.id}`)

    const card = await section()
    await userEvent.click(within(card).getByRole('button', { name: 'Replay' }))
    expect(within(card).getByLabelText('From')).toHaveAccessibleDescription('Say when the range starts.')

    await userEvent.type(within(card).getByLabelText('From'), '2025-01-01T10:00')
    await userEvent.type(within(card).getByLabelText('To'), '2025-01-01T09:00')
    await userEvent.click(within(card).getByRole('button', { name: 'Replay' }))
    expect(within(card).getByLabelText('To')).toHaveAccessibleDescription(/Must be after From/)
    expect(http.callsTo('POST /api/v1/events/replay')).toHaveLength(0)
  })

  it('shows a 422’s field errors next to From and To', async () => {
    setup(() => SUB, {
      'POST /api/v1/events/replay': problem(422, 'the request has invalid fields', [
        { field: 'from', message: 'is more than 90 days ago' },
        { field: 'to', message: 'is in the future' },
      ]),
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const card = await section()
    await userEvent.type(within(card).getByLabelText('From'), '2020-01-01T10:00')
    await userEvent.type(within(card).getByLabelText('To'), '2099-01-01T10:00')
    await userEvent.click(within(card).getByRole('button', { name: 'Replay' }))

    await waitFor(() => expect(within(card).getByLabelText('From')).toHaveAccessibleDescription('is more than 90 days ago'))
    expect(within(card).getByLabelText('To')).toHaveAccessibleDescription(/is in the future/)
    expect(within(card).getByLabelText('From')).toBeInvalid()
    expect(within(card).queryByText(/Replayed/)).toBeNull()
  })

  it('shows the API’s detail when the subscription is not active', async () => {
    setup(() => ({ ...PAUSED, held_count: 0 }), { 'POST /api/v1/events/replay': problem(409, 'the subscription is paused; resume it first') })
    renderApp(`/subscriptions/${SUB.id}`)

    const card = await section()
    expect(card).toHaveTextContent('Resume the subscription first')
    await userEvent.type(within(card).getByLabelText('From'), '2025-01-01T10:00')
    await userEvent.click(within(card).getByRole('button', { name: 'Replay' }))

    expect(await within(card).findByRole('alert')).toHaveTextContent('Could not replay: the subscription is paused; resume it first')
  })
})

describe('a held delivery’s page', () => {
  it('says why it was never attempted', async () => {
    setup(() => PAUSED, {
      'GET /api/v1/deliveries/d-1': () => json({ ...delivery('d-1', 'held'), attempts: [] }),
      'GET /api/v1/events/ev-d-1': () => json({ id: 'ev-d-1', source_id: null, event_type: 'order.paid', received_at: '2025-01-01T00:00:00Z', payload: {}, deliveries: [] }),
    })
    renderApp('/deliveries/d-1')

    expect(await screen.findByText(/Held while its subscription is not active/)).toBeInTheDocument()
    expect(screen.getAllByText('held').length).toBeGreaterThan(0)
  })
})
