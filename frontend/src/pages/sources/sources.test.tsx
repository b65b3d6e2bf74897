import { screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import { json, mockApi, page, problem } from '../../test/http'
import { renderApp, USER } from '../../test/render'

describe('the sources page', () => {
  it('creates a source with a provider and secret and shows its ingest URL with a copy button', async () => {
    const created = { id: 'src-1', name: 'github', provider: 'github', token: 'src_abc', ingest_url: 'http://localhost:8080/ingest/src_abc', created_at: '2025-01-01T00:00:00Z' }
    let list: unknown[] = []
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': () => json(page(list)),
      'POST /api/v1/sources': () => {
        list = [created]
        return json(created, 201)
      },
    })
    renderApp('/sources')
    expect(await screen.findByText('No sources yet.')).toBeInTheDocument()

    await userEvent.type(screen.getByLabelText('Name'), 'github')
    await userEvent.selectOptions(screen.getByLabelText('Provider'), 'github')
    await userEvent.type(screen.getByLabelText('Verification secret'), 's3cret')
    await userEvent.click(screen.getByRole('button', { name: 'Create source' }))

    expect(await screen.findByRole('button', { name: 'Copy ingest URL' })).toBeInTheDocument()
    expect(screen.getAllByText(created.ingest_url).length).toBeGreaterThan(0)
    expect(http.callsTo('POST /api/v1/sources')[0].body).toEqual({ name: 'github', provider: 'github', verification_secret: 's3cret' })
  })

  it('shows a missing verification secret next to that field', async () => {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([])),
      'POST /api/v1/sources': problem(422, 'invalid', [{ field: 'verification_secret', message: 'provider `stripe` needs a verification secret' }]),
    })
    renderApp('/sources')
    await userEvent.type(screen.getByLabelText('Name'), 'stripe')
    await userEvent.selectOptions(screen.getByLabelText('Provider'), 'stripe')
    await userEvent.click(screen.getByRole('button', { name: 'Create source' }))

    await waitFor(() => expect(screen.getByLabelText('Verification secret')).toHaveAccessibleDescription(/needs a verification secret/))
  })

  it('shows the quota’s 403 detail on the form, and keeps what was typed', async () => {
    mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources': json(page([])),
      'POST /api/v1/sources': problem(403, 'you have 1000 sources, the most this Warren allows (WARREN_MAX_SOURCES_PER_USER)'),
    })
    renderApp('/sources')
    await userEvent.type(screen.getByLabelText('Name'), 'one more')
    await userEvent.click(screen.getByRole('button', { name: 'Create source' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('you have 1000 sources, the most this Warren allows (WARREN_MAX_SOURCES_PER_USER)')
    expect(screen.getByLabelText('Name')).toHaveValue('one more')
    expect(screen.queryByRole('button', { name: 'Copy ingest URL' })).not.toBeInTheDocument()
  })

  it('lists a source’s recent events on its page', async () => {
    const http = mockApi({
      'GET /api/v1/me': json(USER),
      'GET /api/v1/sources/src-1': json({ id: 'src-1', name: 'shop', provider: 'none', token: 't', ingest_url: 'http://x/ingest/t', created_at: '2025-01-01T00:00:00Z' }),
      'GET /api/v1/events': json(page([{ id: 'e-1', source_id: 'src-1', event_type: 'orders/create', received_at: '2025-01-01T00:00:00Z' }])),
    })
    renderApp('/sources/src-1')

    expect(await screen.findByText('orders/create')).toBeInTheDocument()
    expect(http.callsTo('GET /api/v1/events')[0].query.get('source_id')).toBe('src-1')
  })
})
