import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { json, mockApi, page, problem } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const SOURCE = { id: 'src-1', name: 'stripe prod', provider: 'stripe', token: 't', ingest_url: 'http://x/ingest/t', created_at: '2025-01-01T00:00:00Z' }
const ev = (id: string, type = 'invoice.paid') => ({ id, source_id: 'src-1', event_type: type, received_at: '2025-01-01T00:00:00Z' })

describe('the events page', () => {
  it('searches with the filters in the query string and follows next_cursor', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([SOURCE])),
      'GET /api/v1/events': (call) => (call.query.get('cursor') ? json(page([ev('e-3')])) : json(page([ev('e-1'), ev('e-2')], 'c2'))),
    })
    renderApp('/events')

    expect(await screen.findAllByText('invoice.paid')).toHaveLength(2)
    await userEvent.type(screen.getByLabelText('Event type'), 'invoice.paid')
    await userEvent.selectOptions(screen.getByLabelText('Source'), 'stripe prod')
    await userEvent.type(screen.getByLabelText('From'), '2025-01-01T10:00')
    await userEvent.click(screen.getByRole('button', { name: 'Search' }))

    await waitFor(() => expect(http.callsTo('GET /api/v1/events').some((c) => c.query.get('event_type') === 'invoice.paid')).toBe(true))
    const searched = http.callsTo('GET /api/v1/events').find((c) => c.query.get('event_type') === 'invoice.paid')!
    expect(searched.query.get('source_id')).toBe('src-1')
    expect(searched.query.get('from')).toBe(new Date('2025-01-01T10:00').toISOString())

    await userEvent.click(await screen.findByRole('button', { name: 'Load more' }))
    expect(await screen.findAllByText('invoice.paid')).toHaveLength(3)
    expect(http.calls.at(-1)!.query.get('cursor')).toBe('c2')
  })

  it('searches by payload content, sending the typed object as contains', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([SOURCE])),
      'GET /api/v1/events': (call) => json(page(call.query.get('contains') ? [ev('e-9', 'order.paid')] : [ev('e-1'), ev('e-2')])),
    })
    renderApp('/events')

    expect(await screen.findAllByText('invoice.paid')).toHaveLength(2)
    await userEvent.click(screen.getByLabelText('Payload contains'))
    await userEvent.paste('{"customer": {"id": "cus_1"}}')
    await userEvent.type(screen.getByLabelText('Event type'), 'order.paid')
    await userEvent.click(screen.getByRole('button', { name: 'Search' }))

    expect(await screen.findByText('order.paid')).toBeInTheDocument()
    const searched = http.callsTo('GET /api/v1/events').find((c) => c.query.get('contains'))!
    expect(JSON.parse(searched.query.get('contains')!)).toEqual({ customer: { id: 'cus_1' } })
    expect(searched.query.get('event_type')).toBe('order.paid')
  })

  it('says when the search is not a JSON object, without asking the server', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([SOURCE])),
      'GET /api/v1/events': json(page([ev('e-1')])),
    })
    renderApp('/events')

    expect(await screen.findByText('invoice.paid')).toBeInTheDocument()
    const before = http.callsTo('GET /api/v1/events').length
    for (const text of ['cus_1', '["cus_1"]']) {
      await userEvent.clear(screen.getByLabelText('Payload contains'))
      await userEvent.click(screen.getByLabelText('Payload contains'))
      await userEvent.paste(text)
      await userEvent.click(screen.getByRole('button', { name: 'Search' }))
      expect(screen.getByLabelText('Payload contains')).toHaveAccessibleDescription(/Payload contains (is not valid JSON|must be a JSON object)/)
    }
    expect(http.callsTo('GET /api/v1/events')).toHaveLength(before)
  })

  it('shows the server’s 400 for a search it refuses', async () => {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([SOURCE])),
      'GET /api/v1/events': (call) => (call.query.get('contains') ? problem(400, '`contains` must be at most 4096 bytes') : json(page([ev('e-1')]))),
    })
    renderApp('/events?contains=%7B%22a%22%3A1%7D')

    expect(await screen.findByText(/`contains` must be at most 4096 bytes/)).toBeInTheDocument()
  })

  it('shows an event’s payload and replays it to one subscription', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([SOURCE])),
      'GET /api/v1/subscriptions': json(page([{ id: 'sub-9', name: 'ledger', event_types: [] }])),
      'GET /api/v1/events/e-1': json({
        ...ev('e-1'),
        payload: { amount: 4200, currency: 'eur' },
        raw_body: '{"amount":4200,"currency":"eur"}',
        deliveries: [{ id: 'd-1', event_id: 'e-1', subscription_id: 'sub-9', status: 'succeeded', attempt_count: 1, next_attempt_at: null, last_status_code: 200 }],
      }),
      'POST /api/v1/events/e-1/replay': { status: 202, body: {} },
    })
    renderApp('/events/e-1')

    expect(await screen.findByLabelText('Payload')).toHaveTextContent('"amount": 4200')
    expect(screen.getByRole('link', { name: 'd-1' })).toHaveAttribute('href', '/deliveries/d-1')
    await userEvent.selectOptions(screen.getByLabelText('Replay to'), await screen.findByRole('option', { name: 'ledger' }))
    await userEvent.click(screen.getByRole('button', { name: 'Replay' }))

    expect(await screen.findByText(/Replay queued/)).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/events/e-1/replay')[0].body).toEqual({ subscription_id: 'sub-9' })
  })

  it('replays to all matching subscriptions with an empty body', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([])),
      'GET /api/v1/subscriptions': json(page([])),
      'GET /api/v1/events/e-1': json({ ...ev('e-1'), payload: null, raw_body: 'plain text', deliveries: [] }),
      'POST /api/v1/events/e-1/replay': { status: 202, body: {} },
    })
    renderApp('/events/e-1')

    expect(await screen.findByLabelText('Raw body')).toHaveTextContent('plain text')
    await userEvent.click(screen.getByRole('button', { name: 'Replay' }))
    await waitFor(() => expect(http.callsTo('POST /api/v1/events/e-1/replay')[0]?.body).toEqual({}))
  })
})

describe('the delivery page', () => {
  it('shows the attempt timeline and retries', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/subscriptions': json(page([])),
      'GET /api/v1/events/e-1': json({ ...ev('e-1', 'order.paid'), payload: {}, deliveries: [] }),
      'GET /api/v1/deliveries/d-1': json({
        id: 'd-1', event_id: 'e-1', subscription_id: 'sub-1', status: 'dead', attempt_count: 2, next_attempt_at: null,
        attempts: [
          { attempt: 1, started_at: '2025-01-01T00:00:00Z', duration_ms: 30, status_code: 500, error_kind: 'http_status', response_excerpt: 'boom' },
          { attempt: 2, started_at: '2025-01-01T00:00:05Z', duration_ms: 10000, status_code: null, error_kind: 'timeout', response_excerpt: null },
        ],
      }),
      'POST /api/v1/deliveries/d-1/retry': { status: 202, body: {} },
    })
    renderApp('/deliveries/d-1')

    const timeline = await screen.findByRole('list', { name: 'Attempt timeline' })
    const [first, second] = within(timeline).getAllByRole('listitem')
    expect(first).toHaveTextContent('Attempt 1')
    expect(first).toHaveTextContent('HTTP 500')
    expect(within(first).getByLabelText('Response to attempt 1')).toHaveTextContent('boom')
    // The error kind in words, and none next to a status code that already says it.
    expect(first).not.toHaveTextContent('http_status')
    expect(second).toHaveTextContent('no response')
    expect(second).toHaveTextContent('Timed out')
    expect(second).toHaveTextContent('10 s')
    expect(await screen.findByRole('link', { name: 'order.paid' })).toHaveAttribute('href', '/events/e-1')

    await userEvent.click(screen.getByRole('button', { name: 'Retry' }))
    expect(await screen.findByText(/Retry queued/)).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/deliveries/d-1/retry')).toHaveLength(1)
  })

  /** The page of a delivery in this status, with no attempts. */
  function deliveryIn(status: string) {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/subscriptions': json(page([])),
      'GET /api/v1/events/e-1': json({ ...ev('e-1', 'order.paid'), payload: {}, deliveries: [] }),
      'GET /api/v1/deliveries/d-1': json({ id: 'd-1', event_id: 'e-1', subscription_id: 'sub-1', status, attempt_count: 1, next_attempt_at: null, attempts: [] }),
    })
    renderApp('/deliveries/d-1')
  }

  it.each(['succeeded', 'discarded', 'held'])('offers no Retry for a %s delivery', async (status) => {
    deliveryIn(status)
    expect(await screen.findByRole('heading', { name: 'Attempts' })).toBeInTheDocument()
    expect(screen.getAllByText(status).length).toBeGreaterThan(0)
    expect(screen.queryByRole('button', { name: 'Retry' })).not.toBeInTheDocument()
  })

  it.each(['pending', 'retrying', 'dead'])('offers Retry for a %s delivery', async (status) => {
    deliveryIn(status)
    expect(await screen.findByRole('button', { name: 'Retry' })).toBeInTheDocument()
  })
})
