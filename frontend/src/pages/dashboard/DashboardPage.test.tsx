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
    'GET /api/v1/queues': json([
      { name: 'warren.graveyard', messages: 2, messages_unacked: 0, consumers: 0, kind: 'graveyard' },
      { name: 'warren.retry.30s', messages: 7, messages_unacked: 0, consumers: 0, kind: 'retry' },
      { name: 'warren.deliver', messages: 1, messages_unacked: 3, consumers: 2, kind: 'deliver' },
    ]),
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

  it('shows the queues from deliver to graveyard with a link to the RabbitMQ console', async () => {
    setup()
    renderApp('/')

    const rows = (await screen.findAllByRole('row')).slice(1)
    expect(rows.map((r) => r.querySelector('td')?.textContent)).toEqual(['warren.deliver', 'warren.retry.30s', 'warren.graveyard'])
    expect(rows[1]).toHaveTextContent('7')
    expect(screen.getByRole('link', { name: 'RabbitMQ console' })).toHaveAttribute('href', 'http://localhost:15672/#/queues')
  })

  it('explains a queues error with the API’s detail', async () => {
    setup({ 'GET /api/v1/queues': problem(503, 'RabbitMQ is unavailable') })
    renderApp('/')
    expect(await screen.findByText(/RabbitMQ is unavailable/)).toBeInTheDocument()
  })

  it('shows no queues to a user who is not the operator, and never asks for them', async () => {
    const user = { ...USER, role: 'user' as const }
    const http = setup({ 'GET /api/v1/me': json(user) })
    renderApp('/', { user })
    expect(await screen.findByRole('heading', { name: 'Subscriptions in trouble' })).toBeInTheDocument()
    expect(screen.queryByRole('link', { name: 'RabbitMQ console' })).not.toBeInTheDocument()
    expect(http.callsTo('GET /api/v1/queues')).toHaveLength(0)
  })

  it('guides a new user when there is nothing yet', async () => {
    setup({ 'GET /api/v1/subscriptions': json(page([])) })
    renderApp('/')
    expect(await screen.findByText('Nothing to chart yet.')).toBeInTheDocument()
  })
})
