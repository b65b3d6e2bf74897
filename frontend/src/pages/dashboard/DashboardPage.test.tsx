import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { json, mockApi, page, problem } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const sub = (id: string, name: string, over = {}) => ({
  id, name, target_url: 'https://x', source_id: null, event_types: [], timeout_ms: 10000, max_attempts: 8, rate_limit_per_sec: 100,
  payload_template: null, headers: {}, ordering: 'none', on_dead: 'skip', signing_secret: 'whsec_x', is_active: true,
  disabled_reason: null, circuit_state: 'closed', created_at: '', updated_at: '', ...over,
})
const stats = (over = {}) => ({
  window: '1h', total: 10, succeeded: 10, failed: 0, timeouts: 0, dead: 0, success_rate: 1, timeout_rate: 0,
  latency_ms: { avg: 20, p50: 15, p95: 40, p99: 60 },
  series: [{ t: '2025-01-01T00:00:00Z', succeeded: 4, failed: 0 }, { t: '2025-01-01T00:01:00Z', succeeded: 6, failed: 0 }],
  ...over,
})
const none = { count: 0, more: false }
const backlog = (over = {}) => ({ pending: none, retrying: none, held: none, dead: none, ...over })
/** One entry of `GET /stats`. */
const entry = (id: string, name: string, over = {}, waiting = {}) => ({ subscription_id: id, name, ...stats(over), backlog: backlog(waiting) })
const allStats = (...data: unknown[]) => json({ window: '1h', data })

function setup(extra = {}) {
  return mockApi({
    'GET /api/v1/me': json(USER),
    'GET /api/v1/subscriptions': json(page([sub('s-ok', 'healthy'), sub('s-open', 'flaky', { circuit_state: 'open' }), sub('s-off', 'gone', { is_active: false, disabled_reason: 'receiver answered 410 Gone' })])),
    'GET /api/v1/stats': allStats(
      entry('s-ok', 'healthy'),
      entry('s-open', 'flaky', { succeeded: 1, failed: 9, timeouts: 3, success_rate: 0.1, timeout_rate: 0.3, dead: 2 }),
      entry('s-off', 'gone', { total: 0, succeeded: 0, series: [] }),
    ),
    'GET /api/v1/queues': json([]),
    'POST /api/v1/subscriptions/s-open/enable': json(sub('s-open', 'flaky')),
    ...extra,
  })
}

/** No request for one subscription's stats or lists: the dashboard makes one call for all. */
function expectOneCallForAll(http: ReturnType<typeof setup>) {
  const perSubscription = http.calls.filter((c) => /^\/api\/v1\/(subscriptions\/[^/]+\/(stats|deliveries)|dead-letters)/.test(c.path))
  expect(perSubscription).toEqual([])
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
    // 3 of the 20 attempts timed out.
    expect(screen.getByText('15% timed out')).toBeInTheDocument()
    await userEvent.click(screen.getByRole('button', { name: '24h' }))
    await waitFor(() => expect(http.callsTo('GET /api/v1/stats').some((c) => c.query.get('window') === '24h')).toBe(true))
    expectOneCallForAll(http)
  })

  it('shows no broker queues on the dashboard, to the operator either, and never asks for them', async () => {
    const http = setup()
    renderApp('/')
    expect(await screen.findByRole('heading', { name: 'Subscriptions in trouble' })).toBeInTheDocument()
    expect(await screen.findByRole('heading', { name: 'Backlog' })).toBeInTheDocument()
    expect(screen.queryByRole('link', { name: 'RabbitMQ console' })).not.toBeInTheDocument()
    expect(http.callsTo('GET /api/v1/queues')).toHaveLength(0)
  })

  it('shows the user’s own backlog by status, in total and per subscription, from the one stats call', async () => {
    const http = setup({
      'GET /api/v1/stats': allStats(
        entry('s-ok', 'healthy'),
        entry('s-open', 'flaky', {}, { pending: { count: 2, more: false }, retrying: { count: 200, more: true }, held: { count: 4, more: false }, dead: { count: 2, more: false } }),
        entry('s-off', 'gone', {}, { pending: { count: 1, more: false } }),
      ),
    })
    renderApp('/')

    const card = (await screen.findByRole('heading', { name: 'Backlog' })).closest('section')!
    await waitFor(() => expect(card.querySelector('[data-backlog=pending]')).toHaveTextContent('3'))
    expect(card.querySelector('[data-backlog=retrying]')).toHaveTextContent('200+')
    expect(card.querySelector('[data-backlog=held]')).toHaveTextContent('4')
    expect(card.querySelector('[data-backlog=dead]')).toHaveTextContent('2')
    // Only subscriptions with something waiting get a row.
    const rows = within(card).getAllByRole('row').slice(1)
    expect(rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent))).toEqual([
      ['flaky', '2', '200+', '4', '2'],
      ['gone', '1', '0', '0', '0'],
    ])
    expect(within(rows[0]).getByRole('link', { name: '2 dead letters of flaky' })).toHaveAttribute('href', '/dead-letters?subscription_id=s-open')
    expect(http.callsTo('GET /api/v1/stats')).toHaveLength(1)
    expectOneCallForAll(http)
  })

  it('says when nothing waits', async () => {
    setup({
      'GET /api/v1/subscriptions': json(page([sub('s-ok', 'healthy', { held_count: 0 })])),
      'GET /api/v1/stats': allStats(entry('s-ok', 'healthy')),
    })
    renderApp('/')
    expect(await screen.findByText('Nothing waiting: every delivery has been made.')).toBeInTheDocument()
  })

  it('explains stats that could not be read with the API’s detail', async () => {
    setup({
      'GET /api/v1/subscriptions': json(page([sub('s-ok', 'healthy', { held_count: 0 })])),
      'GET /api/v1/stats': problem(503, 'the database is unavailable'),
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

  it('says so when the window had no attempt, instead of an empty success-rate chart', async () => {
    const idle = { total: 0, succeeded: 0, success_rate: null, series: [{ t: '2025-01-01T00:00:00Z', succeeded: 0, failed: 0 }] }
    setup({
      'GET /api/v1/subscriptions': json(page([sub('s-ok', 'healthy', { held_count: 0 })])),
      'GET /api/v1/stats': allStats(entry('s-ok', 'healthy', idle)),
    })
    renderApp('/')
    const card = (await screen.findByRole('heading', { name: 'Success rate' })).closest('section')!
    expect(await within(card).findByText('No attempts in this window.')).toBeInTheDocument()
  })
})
