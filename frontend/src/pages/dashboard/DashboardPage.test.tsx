import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { json, mockApi, page, problem, type Call } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const sub = (id: string, name: string, over = {}) => ({
  id, name, target_url: 'https://x', source_id: null, event_types: [], timeout_ms: 10000, max_attempts: 8, rate_limit_per_sec: 100,
  payload_template: null, headers: {}, ordering: 'none', on_dead: 'skip', signing_secret: 'whsec_x', is_active: true,
  disabled_reason: null, circuit_state: 'closed', created_at: '', updated_at: '', ...over,
})
const stats = (over = {}) => ({
  window: '1h', total: 10, succeeded: 10, failed: 0, dead: 0, success_rate: 1,
  latency_ms: { avg: 20, p50: 15, p95: 40, p99: 60 },
  series: [{ t: '2025-01-01T00:00:00Z', succeeded: 4, failed: 0 }, { t: '2025-01-01T00:01:00Z', succeeded: 6, failed: 0 }],
  ...over,
})

function setup(extra = {}) {
  return mockApi({
    'GET /api/v1/me': json(USER),
    'GET /api/v1/subscriptions': json(page([sub('s-ok', 'healthy'), sub('s-open', 'flaky', { circuit_state: 'open' }), sub('s-off', 'gone', { is_active: false, disabled_reason: 'receiver answered 410 Gone' })])),
    'GET /api/v1/subscriptions/s-ok/stats': json(stats()),
    'GET /api/v1/subscriptions/s-open/stats': json(stats({ succeeded: 1, failed: 9, success_rate: 0.1, dead: 2 })),
    'GET /api/v1/subscriptions/s-off/stats': json(stats({ total: 0, succeeded: 0, series: [] })),
    'GET /api/v1/subscriptions/s-ok/deliveries': json(page([])),
    'GET /api/v1/subscriptions/s-open/deliveries': json(page([])),
    'GET /api/v1/subscriptions/s-off/deliveries': json(page([])),
    'GET /api/v1/dead-letters': json(page([])),
    'GET /api/v1/queues': json([]),
    'POST /api/v1/subscriptions/s-open/enable': json(sub('s-open', 'flaky')),
    ...extra,
  })
}

describe('the dashboard', () => {
  it('lists the subscriptions in trouble with why, and re-enables one', async () => {
    const http = setup()
    renderApp('/')

    const trouble = (await screen.findByRole('heading', { name: 'Subscriptions in trouble' })).closest('section')!
    const items = await within(trouble).findAllByRole('listitem')
    expect(items.map((i) => i.textContent)).toEqual([
      expect.stringContaining('Circuit open'),
      expect.stringContaining('Disabled: receiver answered 410 Gone'),
    ])
    expect(items[0]).toHaveTextContent('2 dead')
    expect(within(trouble).queryByText('healthy')).not.toBeInTheDocument()

    await userEvent.click(within(items[0]).getByRole('button', { name: 'Re-enable' }))
    await waitFor(() => expect(http.callsTo('POST /api/v1/subscriptions/s-open/enable')).toHaveLength(1))
  })

  it('shows the window’s totals and asks for another window when chosen', async () => {
    const http = setup()
    renderApp('/')

    expect(await screen.findByText('Success rate', { selector: 'p' })).toBeInTheDocument()
    // 11 of 20 attempts succeeded over the two subscriptions that had any.
    expect(await screen.findByText('55%')).toBeInTheDocument()
    await userEvent.click(screen.getByRole('button', { name: '24h' }))
    await waitFor(() => expect(http.callsTo('GET /api/v1/subscriptions/s-ok/stats').some((c) => c.query.get('window') === '24h')).toBe(true))
  })

  it('shows no broker queues on the dashboard, to the operator either, and never asks for them', async () => {
    const http = setup()
    renderApp('/')
    expect(await screen.findByRole('heading', { name: 'Subscriptions in trouble' })).toBeInTheDocument()
    expect(await screen.findByRole('heading', { name: 'Backlog' })).toBeInTheDocument()
    expect(screen.queryByRole('link', { name: 'RabbitMQ console' })).not.toBeInTheDocument()
    expect(http.callsTo('GET /api/v1/queues')).toHaveLength(0)
  })

  it('shows the user’s own backlog by status, in total and per subscription', async () => {
    const deliveries = (counts: Record<string, number>, full: string[] = []) => (call: Call) => {
      const status = call.query.get('status') ?? ''
      return json(page(Array.from({ length: counts[status] ?? 0 }, (_, i) => ({ id: `${status}-${i}` })), full.includes(status) ? 'next' : null))
    }
    const http = setup({
      'GET /api/v1/subscriptions': json(page([sub('s-ok', 'healthy', { held_count: 0 }), sub('s-open', 'flaky', { held_count: 4 }), sub('s-off', 'gone', { held_count: 0 })])),
      'GET /api/v1/subscriptions/s-ok/deliveries': deliveries({}),
      'GET /api/v1/subscriptions/s-open/deliveries': deliveries({ pending: 2, retrying: 200 }, ['retrying']),
      'GET /api/v1/subscriptions/s-off/deliveries': deliveries({ pending: 1 }),
      'GET /api/v1/dead-letters': (call: Call) => json(page(call.query.get('subscription_id') === 's-open' ? [{ id: 'd-1' }, { id: 'd-2' }] : [])),
    })
    renderApp('/')

    const card = (await screen.findByRole('heading', { name: 'Backlog' })).closest('section')!
    await waitFor(() => expect(card.querySelector('[data-backlog=pending]')).toHaveTextContent('3'))
    expect(card.querySelector('[data-backlog=retrying]')).toHaveTextContent('200+')
    expect(card.querySelector('[data-backlog=held]')).toHaveTextContent('4')
    expect(card.querySelector('[data-backlog=dead]')).toHaveTextContent('2')
    // Only subscriptions with something waiting get a row; held counts come from the subscription itself.
    const rows = within(card).getAllByRole('row').slice(1)
    expect(rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent))).toEqual([
      ['flaky', '2', '200+', '4', '2'],
      ['gone', '1', '0', '0', '0'],
    ])
    expect(within(rows[0]).getByRole('link', { name: '2 dead letters of flaky' })).toHaveAttribute('href', '/dead-letters?subscription_id=s-open')
    expect(http.callsTo('GET /api/v1/subscriptions/s-open/deliveries').map((c) => c.query.get('status')).sort()).toEqual(['pending', 'retrying'])
    expect(http.callsTo('GET /api/v1/subscriptions/s-open/deliveries').every((c) => c.query.get('limit') === '200')).toBe(true)
  })

  it('says when nothing waits', async () => {
    setup({
      'GET /api/v1/subscriptions': json(page([sub('s-ok', 'healthy', { held_count: 0 })])),
      'GET /api/v1/subscriptions/s-ok/deliveries': json(page([])),
      'GET /api/v1/dead-letters': json(page([])),
    })
    renderApp('/')
    expect(await screen.findByText('Nothing waiting: every delivery has been made.')).toBeInTheDocument()
  })

  it('explains a count that could not be read with the API’s detail', async () => {
    setup({
      'GET /api/v1/subscriptions': json(page([sub('s-ok', 'healthy', { held_count: 0 })])),
      'GET /api/v1/subscriptions/s-ok/deliveries': problem(503, 'the database is unavailable'),
      'GET /api/v1/dead-letters': json(page([])),
    })
    renderApp('/')
    const card = (await screen.findByRole('heading', { name: 'Backlog' })).closest('section')!
    expect(await within(card).findByRole('alert')).toHaveTextContent('Some counts could not be loaded: the database is unavailable')
  })

  it('guides a new user when there is nothing yet', async () => {
    setup({ 'GET /api/v1/subscriptions': json(page([])) })
    renderApp('/')
    expect(await screen.findByText('Nothing to chart yet.')).toBeInTheDocument()
  })
})
