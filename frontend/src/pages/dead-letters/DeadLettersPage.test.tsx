import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'
import { json, mockApi, page, problem } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const SUB = { id: 'sub-1', name: 'billing', event_types: [], is_active: true, circuit_state: 'closed' }
const letter = (id: string) => ({
  id,
  event_id: 'ev-1',
  subscription_id: 'sub-1',
  status: 'dead',
  attempt_count: 8,
  next_attempt_at: null,
  last_status_code: 500,
  last_error_kind: 'http_status',
  dead_at: '2025-01-01T00:00:00Z',
})

function setup(extra = {}) {
  vi.spyOn(window, 'confirm').mockReturnValue(true)
  return mockApi({
    'GET /api/v1/me': json(USER),
    'GET /api/v1/subscriptions': json(page([SUB])),
    'GET /api/v1/dead-letters': (call) =>
      call.query.get('cursor') === 'next' ? json(page([letter('dl-3')])) : json(page([letter('dl-1'), letter('dl-2')], 'next')),
    ...extra,
  })
}

describe('the dead letters page', () => {
  it('lists dead letters with their last status and pages on with the cursor', async () => {
    const http = setup()
    renderApp('/dead-letters')

    const list = await screen.findByRole('list', { name: 'Dead letters' })
    expect(within(list).getAllByRole('listitem')).toHaveLength(2)
    expect(list).toHaveTextContent('8 attempts · last HTTP 500')
    expect(list).toHaveTextContent('billing')

    await userEvent.click(screen.getByRole('button', { name: 'Load more' }))
    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(3))
    expect(http.callsTo('GET /api/v1/dead-letters')[1].query.get('cursor')).toBe('next')
  })

  it('replays and discards one dead letter', async () => {
    const http = setup({
      'POST /api/v1/dead-letters/dl-1/replay': { status: 202, body: {} },
      'DELETE /api/v1/dead-letters/dl-2': { status: 204 },
    })
    renderApp('/dead-letters')

    const rows = within(await screen.findByRole('list', { name: 'Dead letters' })).getAllByRole('listitem')
    await userEvent.click(within(rows[0]).getByRole('button', { name: 'Replay' }))
    await userEvent.click(within(rows[1]).getByRole('button', { name: 'Discard' }))

    await waitFor(() => expect(http.callsTo('DELETE /api/v1/dead-letters/dl-2')).toHaveLength(1))
    expect(http.callsTo('POST /api/v1/dead-letters/dl-1/replay')).toHaveLength(1)
  })

  it('bulk-replays the filtered subscription and says how many went back', async () => {
    const http = setup({ 'POST /api/v1/dead-letters/replay': json({ replayed: 2 }, 202) })
    renderApp('/dead-letters')

    await screen.findByRole('list', { name: 'Dead letters' })
    await userEvent.selectOptions(screen.getByLabelText('Subscription'), 'billing')
    await userEvent.click(screen.getByRole('button', { name: 'Filter' }))
    await waitFor(() => expect(http.callsTo('GET /api/v1/dead-letters').some((c) => c.query.get('subscription_id') === 'sub-1')).toBe(true))
    await userEvent.click(screen.getByRole('button', { name: 'Replay all matching' }))

    expect(await screen.findByText('Replayed 2 dead letters.')).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/dead-letters/replay')[0].body).toEqual({ subscription_id: 'sub-1' })
  })

  it('shows an empty state with nothing to replay', async () => {
    setup({ 'GET /api/v1/dead-letters': json(page([])) })
    renderApp('/dead-letters')
    expect(await screen.findByText('No dead letters.')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Replay all' })).toBeDisabled()
  })

  it('shows the API’s detail next to the dead letter whose replay failed', async () => {
    setup({ 'POST /api/v1/dead-letters/dl-2/replay': problem(409, 'the subscription is disabled; enable it first') })
    renderApp('/dead-letters')

    const rows = within(await screen.findByRole('list', { name: 'Dead letters' })).getAllByRole('listitem')
    await userEvent.click(within(rows[1]).getByRole('button', { name: 'Replay' }))

    expect(await within(rows[1]).findByRole('alert')).toHaveTextContent('the subscription is disabled; enable it first')
    expect(within(rows[0]).queryByRole('alert')).not.toBeInTheDocument()
  })
})
