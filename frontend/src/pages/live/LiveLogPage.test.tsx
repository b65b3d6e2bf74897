import { act, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { openSocket } from '../../test/fakeSocket'
import { json, mockApi, page } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const DELIVERY = '0190a000-0000-7000-8000-00000000d0d0'
const EVENT = '0190a000-0000-7000-8000-00000000e0e0'

describe('the live log page', () => {
  it('shows each attempt as it happens: event type (looked up), outcome, status code and the full delivery id', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/subscriptions': json(page([])),
      [`GET /api/v1/events/${EVENT}`]: json({ id: EVENT, source_id: null, event_type: 'order.paid', received_at: '2025-01-01T00:00:00Z', payload: {}, deliveries: [] }),
    })
    renderApp('/live')
    expect(await screen.findByText('Waiting for deliveries…')).toBeInTheDocument()

    act(() =>
      openSocket().serverEmit('delivery.attempt', {
        delivery_id: DELIVERY,
        event_id: EVENT,
        subscription_id: 'sub',
        attempt: 2,
        status_code: 503,
        duration_ms: 40,
        outcome: 'failed',
        error_kind: 'http_status',
        next_attempt_at: '2025-01-01T00:00:30Z',
        at: '2025-01-01T00:00:01Z',
      }),
    )

    const table = screen.getByRole('table', { name: 'Delivery attempts' })
    expect(within(table).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Time', 'Event', 'Outcome', 'Response', 'Delivery'])
    const line = within(table).getAllByRole('row')[1]
    const cells = within(line).getAllByRole('cell')
    expect(cells).toHaveLength(5)
    expect(await within(cells[1]).findByText('order.paid')).toBeInTheDocument()
    expect(cells[2]).toHaveTextContent('failed')
    // The status code says what went wrong: no raw error kind beside it.
    expect(cells[3]).toHaveTextContent(/^HTTP 503$/)
    const link = within(line).getByRole('link', { name: `Delivery ${DELIVERY}` })
    expect(link).toHaveTextContent(DELIVERY)
    expect(link).toHaveAttribute('href', `/deliveries/${DELIVERY}`)
    expect(http.callsTo(`GET /api/v1/events/${EVENT}`)).toHaveLength(1)
  })

  it('pauses and resumes from its buttons', async () => {
    mockApi({ 'GET /api/v1/me': json(USER), 'GET /api/v1/subscriptions': json(page([])) })
    renderApp('/live')
    await userEvent.click(await screen.findByRole('button', { name: 'Pause' }))

    act(() =>
      openSocket().serverEmit('delivery.attempt', {
        delivery_id: DELIVERY, event_id: EVENT, subscription_id: 's', attempt: 1, status_code: 200, duration_ms: 5,
        outcome: 'succeeded', error_kind: null, next_attempt_at: null, at: '2025-01-01T00:00:01Z', event_type: 'a.b',
      }),
    )

    expect(screen.getByText(/Paused\. 1 attempt not shown/)).toBeInTheDocument()
    expect(screen.queryByRole('table', { name: 'Delivery attempts' })).not.toBeInTheDocument()
    await userEvent.click(screen.getByRole('button', { name: 'Resume' }))
    expect(screen.getByRole('button', { name: 'Pause' })).toBeInTheDocument()
  })

  it('says in words why an attempt got no answer', async () => {
    mockApi({ 'GET /api/v1/me': json(USER), 'GET /api/v1/subscriptions': json(page([])) })
    renderApp('/live')
    await screen.findByText('Waiting for deliveries…')

    act(() =>
      openSocket().serverEmit('delivery.attempt', {
        delivery_id: DELIVERY, event_id: EVENT, subscription_id: 's', attempt: 1, status_code: null, duration_ms: 10000,
        outcome: 'failed', error_kind: 'timeout', next_attempt_at: null, at: '2025-01-01T00:00:01Z', event_type: 'a.b',
      }),
    )

    const line = within(screen.getByRole('table', { name: 'Delivery attempts' })).getAllByRole('row')[1]
    expect(within(line).getAllByRole('cell')[3]).toHaveTextContent('no responseTimed out')
  })
})
