import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it } from 'vitest'
import type { Subscription } from '../../api'
import { json, mockApi, page, problem } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const SOURCE = { id: '0190a000-0000-7000-8000-0000000000a1', name: 'shop', provider: 'none', token: 'src_x', ingest_url: 'http://localhost:8080/ingest/src_x', created_at: '2025-01-01T00:00:00Z' }

const SECRET = 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0'
const SUB: Subscription = {
  id: '0190a000-0000-7000-8000-0000000000b1',
  name: 'orders',
  target_url: 'https://example.com/hook',
  source_id: SOURCE.id,
  event_types: ['order.*'],
  timeout_ms: 10000,
  max_attempts: 8,
  rate_limit_per_sec: 100,
  payload_template: null,
  headers: { 'X-Team': 'payments' },
  ordering: 'none',
  on_dead: 'skip',
  signing_secret: SECRET,
  is_active: true,
  disabled_reason: null,
  circuit_state: 'closed',
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-01T00:00:00Z',
}

const base = {
  'GET /api/v1/me': json(USER),
  'GET /api/v1/sources': json(page([SOURCE])),
  'GET /api/v1/subscriptions': json(page([SUB])),
  [`GET /api/v1/subscriptions/${SUB.id}`]: json(SUB),
  [`GET /api/v1/subscriptions/${SUB.id}/deliveries`]: json(page([])),
  [`GET /api/v1/subscriptions/${SUB.id}/stats`]: json({ window: '24h', total: 0, succeeded: 0, failed: 0, dead: 0, success_rate: null, latency_ms: { avg: null, p50: null, p95: null, p99: null }, series: [] }),
}

/** The API answering a create with `created`, then showing it. */
function creating(created: Subscription) {
  return {
    ...base,
    'POST /api/v1/subscriptions': json(created, 201),
    [`GET /api/v1/subscriptions/${created.id}`]: json(created),
    [`GET /api/v1/subscriptions/${created.id}/deliveries`]: json(page([])),
    [`GET /api/v1/subscriptions/${created.id}/stats`]: base[`GET /api/v1/subscriptions/${SUB.id}/stats`],
  }
}

describe('creating a subscription', () => {
  it('shows each field error of a 422 next to its own field', async () => {
    const http = mockApi({
      ...base,
      'POST /api/v1/subscriptions': problem(422, 'the request has invalid fields', [
        { field: 'target_url', message: 'points at a non-public address (127.0.0.1)' },
        { field: 'max_attempts', message: 'greater than 20' },
      ]),
    })
    renderApp('/subscriptions/new')

    await userEvent.type(screen.getByLabelText('Name'), 'local')
    await userEvent.type(screen.getByLabelText('Target URL'), 'http://127.0.0.1:9000/hook')
    await userEvent.clear(screen.getByLabelText('Max attempts'))
    await userEvent.type(screen.getByLabelText('Max attempts'), '50')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))

    await waitFor(() => expect(screen.getByLabelText('Target URL')).toHaveAccessibleDescription(/non-public address \(127\.0\.0\.1\)/))
    expect(screen.getByLabelText('Target URL')).toBeInvalid()
    expect(screen.getByLabelText('Max attempts')).toHaveAccessibleDescription(/greater than 20/)
    expect(screen.getByLabelText('Name')).not.toHaveAccessibleDescription(/non-public|greater/)
    expect(screen.getByLabelText('Timeout (ms)')).not.toHaveAccessibleDescription(/non-public|greater/)
    expect(http.callsTo('POST /api/v1/subscriptions')[0].body).toMatchObject({ name: 'local', target_url: 'http://127.0.0.1:9000/hook', max_attempts: 50, source_id: null })
  })

  it('sends every field in the API’s shape and opens the new subscription with its secret', async () => {
    const created = { ...SUB, id: '0190a000-0000-7000-8000-0000000000b2', name: 'new one' }
    const http = mockApi(creating(created))
    renderApp('/subscriptions/new')

    await userEvent.type(screen.getByLabelText('Name'), 'new one')
    await userEvent.type(screen.getByLabelText('Target URL'), 'https://example.com/hook')
    await userEvent.selectOptions(await screen.findByLabelText('Source'), await screen.findByRole('option', { name: 'shop' }))
    await userEvent.type(screen.getByLabelText('Event types'), 'order.paid, invoice.*')
    await userEvent.type(screen.getByLabelText('Headers'), 'X-Team: payments')
    await userEvent.selectOptions(screen.getByLabelText('Ordering'), 'fifo')
    await userEvent.selectOptions(screen.getByLabelText('On dead'), 'pause')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))

    expect(await screen.findByRole('heading', { name: 'new one' })).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/subscriptions')[0].body).toEqual({
      name: 'new one',
      target_url: 'https://example.com/hook',
      source_id: SOURCE.id,
      event_types: ['order.paid', 'invoice.*'],
      timeout_ms: 10000,
      max_attempts: 8,
      rate_limit_per_sec: 100,
      payload_template: null,
      headers: { 'X-Team': 'payments' },
      filter: null,
      ordering: 'fifo',
      on_dead: 'pause',
      signing_algorithm: 'hmac_sha256',
      batch: null,
    })
    // Just created: the secret is shown so it can be handed to the receiver.
    expect(screen.getByLabelText('Signing secret')).toHaveTextContent(created.signing_secret ?? '')
  })

  it('offers the four signing algorithms and opens an RSA subscription on its PEM public key', async () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1L7VLPHCgcBIjQ==\n-----END PUBLIC KEY-----\n'
    const created: Subscription = { ...SUB, id: '0190a000-0000-7000-8000-0000000000b3', signing_algorithm: 'rsa_pss_sha256', signing_secret: null, public_key: pem }
    const http = mockApi(creating(created))
    renderApp('/subscriptions/new')

    const select = screen.getByLabelText('Signing algorithm')
    expect(within(select).getAllByRole('option').map((o) => o.textContent)).toEqual(['HMAC-SHA256', 'HMAC-SHA512', 'Ed25519', 'RSA-PSS-SHA256'])
    expect(select).toHaveValue('hmac_sha256')
    await userEvent.type(screen.getByLabelText('Name'), 'signed by RSA')
    await userEvent.type(screen.getByLabelText('Target URL'), 'https://example.com/hook')
    await userEvent.selectOptions(select, 'RSA-PSS-SHA256')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))

    const key = await screen.findByLabelText('Public key')
    expect(http.callsTo('POST /api/v1/subscriptions')[0].body).toMatchObject({ signing_algorithm: 'rsa_pss_sha256' })
    expect(key.textContent).toBe(pem)
    expect(screen.queryByLabelText('Signing secret')).toBeNull()
    expect(screen.getByText(/^Algorithm:/)).toHaveTextContent('Algorithm: RSA-PSS-SHA256')
    expect(screen.getByLabelText('New key’s algorithm'), 'a rotation keeps the kind unless told').toHaveValue('rsa_pss_sha256')
    expect(screen.getByText(/v1r signatures \(RSASSA-PSS/)).toBeInTheDocument()
    expect(screen.queryByLabelText('Signing algorithm'), 'the settings form does not change the key').toBeNull()
  })

  it('catches a malformed header line before calling the API', async () => {
    const http = mockApi(base)
    renderApp('/subscriptions/new')

    await userEvent.type(screen.getByLabelText('Name'), 'x')
    await userEvent.type(screen.getByLabelText('Target URL'), 'https://example.com')
    await userEvent.type(screen.getByLabelText('Headers'), 'no colon here')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))

    expect(screen.getByLabelText('Headers')).toHaveAccessibleDescription(/line 1 is not “Name: value”/)
    expect(http.callsTo('POST /api/v1/subscriptions')).toHaveLength(0)
  })

  it('refuses a payload filter that is not a JSON object before calling the API', async () => {
    const http = mockApi(base)
    renderApp('/subscriptions/new')

    await userEvent.type(screen.getByLabelText('Name'), 'x')
    await userEvent.type(screen.getByLabelText('Target URL'), 'https://example.com')
    await userEvent.click(screen.getByLabelText('Payload filter'))
    await userEvent.paste('["cus_1"]')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))
    expect(screen.getByLabelText('Payload filter')).toHaveAccessibleDescription(/must be a JSON object/)

    await userEvent.clear(screen.getByLabelText('Payload filter'))
    await userEvent.paste('{"customer": ')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))
    expect(screen.getByLabelText('Payload filter')).toHaveAccessibleDescription(/is not valid JSON/)
    expect(http.callsTo('POST /api/v1/subscriptions')).toHaveLength(0)
  })

  it('shows the quota’s 403 detail on the form and stays on it', async () => {
    mockApi({ ...base, 'POST /api/v1/subscriptions': problem(403, 'you have 1000 subscriptions, the most this Warren allows (WARREN_MAX_SUBSCRIPTIONS_PER_USER)') })
    renderApp('/subscriptions/new')

    await userEvent.type(screen.getByLabelText('Name'), 'one more')
    await userEvent.type(screen.getByLabelText('Target URL'), 'https://example.com/hook')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))

    expect(await screen.findByRole('alert')).toHaveTextContent('you have 1000 subscriptions, the most this Warren allows (WARREN_MAX_SUBSCRIPTIONS_PER_USER)')
    expect(screen.getByRole('heading', { name: 'New subscription' })).toBeInTheDocument()
    expect(screen.getByLabelText('Name')).toHaveValue('one more')
  })
})

describe('the subscription form', () => {
  it('explains Ordering and On dead under their fields', async () => {
    mockApi(base)
    renderApp('/subscriptions/new')

    expect(await screen.findByLabelText('Ordering')).toHaveAccessibleDescription(/FIFO: one at a time, in the order the events arrived/)
    expect(screen.getByLabelText('Ordering')).toHaveAccessibleDescription(/None: deliveries go out side by side/)
    expect(screen.getByLabelText('On dead')).toHaveAccessibleDescription(/Skip sends the next one; Pause stops the subscription until you replay or discard the dead one/)
  })
})

describe('a subscription’s page', () => {
  it('saves edits with PATCH and shows a 422 next to the field', async () => {
    let attempts = 0
    const http = mockApi({
      ...base,
      [`PATCH /api/v1/subscriptions/${SUB.id}`]: (call) => {
        attempts += 1
        return attempts === 1 ? problem(422, 'invalid', [{ field: 'timeout_ms', message: 'lower than 1000' }]) : json({ ...SUB, ...(call.body as object) })
      },
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const timeout = await screen.findByLabelText('Timeout (ms)')
    await userEvent.clear(timeout)
    await userEvent.type(timeout, '5')
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }))
    await waitFor(() => expect(screen.getByLabelText('Timeout (ms)')).toHaveAccessibleDescription(/lower than 1000/))

    await userEvent.clear(timeout)
    await userEvent.type(timeout, '5000')
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }))

    expect(await screen.findByText('Changes saved.')).toBeInTheDocument()
    expect(http.callsTo(`PATCH /api/v1/subscriptions/${SUB.id}`)[1].body).toMatchObject({ timeout_ms: 5000, headers: { 'X-Team': 'payments' }, event_types: ['order.*'] })
  })

  it('reveals and rotates the signing secret', async () => {
    const http = mockApi({
      ...base,
      [`POST /api/v1/subscriptions/${SUB.id}/rotate-secret`]: json({ signing_secret: 'whsec_bmV3bmV3bmV3bmV3' }),
    })
    const { vi } = await import('vitest')
    vi.spyOn(window, 'confirm').mockReturnValue(true)
    renderApp(`/subscriptions/${SUB.id}`)

    const secret = await screen.findByLabelText('Signing secret')
    expect(secret).not.toHaveTextContent(SECRET)
    await userEvent.click(screen.getByRole('button', { name: 'Reveal secret' }))
    expect(secret).toHaveTextContent(SECRET)

    await userEvent.click(screen.getByRole('button', { name: 'Rotate secret' }))
    await waitFor(() => expect(screen.getByLabelText('Signing secret')).toHaveTextContent('whsec_bmV3bmV3bmV3bmV3'))
    expect(http.callsTo(`POST /api/v1/subscriptions/${SUB.id}/rotate-secret`)).toHaveLength(1)
  })

  it('shows an Ed25519 subscription’s public key, never a secret, and rotates it', async () => {
    const ed = { ...SUB, signing_algorithm: 'ed25519', signing_secret: null, public_key: 'whpk_b2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2w=' }
    const http = mockApi({
      ...base,
      [`GET /api/v1/subscriptions/${SUB.id}`]: json(ed),
      [`POST /api/v1/subscriptions/${SUB.id}/rotate-secret`]: json({ signing_algorithm: 'ed25519', signing_secret: null, public_key: 'whpk_bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmU=' }),
    })
    const { vi } = await import('vitest')
    vi.spyOn(window, 'confirm').mockReturnValue(true)
    renderApp(`/subscriptions/${SUB.id}`)

    const key = await screen.findByLabelText('Public key')
    expect(key).toHaveTextContent(ed.public_key)
    expect(screen.queryByLabelText('Signing secret')).toBeNull()
    expect(screen.queryByRole('button', { name: 'Reveal secret' })).toBeNull()

    await userEvent.click(screen.getByRole('button', { name: 'Rotate key' }))
    await waitFor(() => expect(screen.getByLabelText('Public key')).toHaveTextContent('whpk_bmV3bmV3'))
    expect(http.callsTo(`POST /api/v1/subscriptions/${SUB.id}/rotate-secret`)).toHaveLength(1)
  })

  it('rotates to another algorithm: asks for it and shows the new kind of key', async () => {
    const http = mockApi({
      ...base,
      [`POST /api/v1/subscriptions/${SUB.id}/rotate-secret`]: json({ signing_algorithm: 'ed25519', signing_secret: null, public_key: 'whpk_bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmU=' }),
    })
    const { vi } = await import('vitest')
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(true)
    renderApp(`/subscriptions/${SUB.id}`)

    const next = await screen.findByLabelText('New key’s algorithm')
    expect(next).toHaveValue('hmac_sha256')
    await userEvent.selectOptions(next, 'Ed25519')
    await userEvent.click(screen.getByRole('button', { name: 'Rotate secret' }))

    await waitFor(() => expect(screen.getByLabelText('Public key')).toHaveTextContent('whpk_bmV3bmV3'))
    expect(confirm).toHaveBeenLastCalledWith(expect.stringContaining('to Ed25519'))
    expect(http.callsTo(`POST /api/v1/subscriptions/${SUB.id}/rotate-secret`)[0].body).toEqual({ signing_algorithm: 'ed25519' })
    expect(screen.queryByLabelText('Signing secret')).toBeNull()
    expect(screen.getByText(/v1a signatures/)).toBeInTheDocument()
  })

  it('keeps the signing algorithm out of an edit', async () => {
    const http = mockApi({ ...base, [`PATCH /api/v1/subscriptions/${SUB.id}`]: (call) => json({ ...SUB, ...(call.body as object) }) })
    renderApp(`/subscriptions/${SUB.id}`)

    await userEvent.click(await screen.findByRole('button', { name: 'Save changes' }))
    await waitFor(() => expect(http.callsTo(`PATCH /api/v1/subscriptions/${SUB.id}`)).toHaveLength(1))
    expect(http.callsTo(`PATCH /api/v1/subscriptions/${SUB.id}`)[0].body).not.toHaveProperty('signing_algorithm')
  })

  it('shows the payload filter, edits it and clears it with null', async () => {
    const filtered = { ...SUB, filter: { customer: { id: 'cus_1' } } }
    const http = mockApi({
      ...base,
      [`GET /api/v1/subscriptions/${SUB.id}`]: json(filtered),
      [`PATCH /api/v1/subscriptions/${SUB.id}`]: (call) => json({ ...filtered, ...(call.body as object) }),
    })
    renderApp(`/subscriptions/${SUB.id}`)

    expect(await screen.findByText('{"customer":{"id":"cus_1"}}')).toBeInTheDocument()
    const field = screen.getByLabelText('Payload filter')
    expect(JSON.parse((field as HTMLTextAreaElement).value)).toEqual({ customer: { id: 'cus_1' } })
    expect(field).toHaveAccessibleDescription(/payload contains it/)

    await userEvent.clear(field)
    await userEvent.paste('{"customer": {"id": "cus_2"}, "tags": ["vip"]}')
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }))
    await waitFor(() => expect(http.callsTo(`PATCH /api/v1/subscriptions/${SUB.id}`)).toHaveLength(1))
    expect(http.callsTo(`PATCH /api/v1/subscriptions/${SUB.id}`)[0].body).toMatchObject({ filter: { customer: { id: 'cus_2' }, tags: ['vip'] } })

    await userEvent.clear(field)
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }))
    await waitFor(() => expect(http.callsTo(`PATCH /api/v1/subscriptions/${SUB.id}`)).toHaveLength(2))
    expect(http.callsTo(`PATCH /api/v1/subscriptions/${SUB.id}`)[1].body).toMatchObject({ filter: null })
  })

  it('sends a test event whose payload contains the subscription’s filter', async () => {
    const filtered = { ...SUB, filter: { customer: { id: 'cus_1' } } }
    const http = mockApi({
      ...base,
      [`GET /api/v1/subscriptions/${SUB.id}`]: json(filtered),
      'POST /api/v1/events': json({ id: '0190a000-0000-7000-8000-0000000000e1', deliveries: 1 }, 202),
    })
    renderApp(`/subscriptions/${SUB.id}`)

    await userEvent.click(await screen.findByRole('button', { name: 'Send test event' }))
    await waitFor(() => expect(http.callsTo('POST /api/v1/events')).toHaveLength(1))
    const body = http.callsTo('POST /api/v1/events')[0].body as { payload: Record<string, unknown> }
    expect(body.payload).toMatchObject({ test: true, customer: { id: 'cus_1' } })
  })

  it('sends a warren.test event from the subscription’s source', async () => {
    const http = mockApi({ ...base, 'POST /api/v1/events': json({ id: '0190a000-0000-7000-8000-0000000000e1', deliveries: 1 }, 202) })
    renderApp(`/subscriptions/${SUB.id}`)

    await userEvent.click(await screen.findByRole('button', { name: 'Send test event' }))

    expect(await screen.findByText(/Test event sent to 1 subscription\./)).toBeInTheDocument()
    const body = http.callsTo('POST /api/v1/events')[0].body as Record<string, unknown>
    expect(body).toMatchObject({ event_type: 'warren.test', source_id: SOURCE.id })
    expect(body.payload).toBeTypeOf('object')
  })

  it('offers Resume for a subscription Warren disabled, and enables it', async () => {
    const disabled = { ...SUB, is_active: false, disabled_reason: 'receiver gone (410)', circuit_state: 'open' as const, held_count: 0 }
    const http = mockApi({
      ...base,
      [`GET /api/v1/subscriptions/${SUB.id}`]: json(disabled),
      [`POST /api/v1/subscriptions/${SUB.id}/enable`]: json(SUB),
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const banner = await screen.findByText(/Disabled: receiver gone \(410\)/)
    await userEvent.click(within(banner.closest('[role=status]') as HTMLElement).getByRole('button', { name: 'Resume' }))

    await waitFor(() => expect(http.callsTo(`POST /api/v1/subscriptions/${SUB.id}/enable`)).toHaveLength(1))
    expect(http.callsTo(`POST /api/v1/subscriptions/${SUB.id}/enable`)[0].body).toEqual({ held: 'deliver' })
  })

  it('offers Re-enable for an active subscription whose circuit is open', async () => {
    const http = mockApi({
      ...base,
      [`GET /api/v1/subscriptions/${SUB.id}`]: json({ ...SUB, circuit_state: 'open' }),
      [`POST /api/v1/subscriptions/${SUB.id}/enable`]: json(SUB),
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const banner = (await screen.findByText(/The circuit is open/)).closest('[role=status]') as HTMLElement
    expect(within(banner).queryByRole('button', { name: 'Resume' })).toBeNull()
    await userEvent.click(within(banner).getByRole('button', { name: 'Re-enable' }))

    await waitFor(() => expect(http.callsTo(`POST /api/v1/subscriptions/${SUB.id}/enable`)).toHaveLength(1))
  })

  it('shows a long target URL whole, wrapping only between its parts, with a copy button', async () => {
    const long = 'https://hooks.example-shop.com/webhooks/orders/2025/incoming?team=payments&region=eu-west-1&verify=strict'
    mockApi({ ...base, [`GET /api/v1/subscriptions/${SUB.id}`]: json({ ...SUB, target_url: long }) })
    renderApp(`/subscriptions/${SUB.id}`)

    const overview = (await screen.findByRole('heading', { name: 'Overview' })).closest('section')!
    const url = overview.querySelector('[data-url]')!
    expect(url).toHaveTextContent(long)
    // Break opportunities between the parts, and no break-all that would cut a word.
    expect(url.querySelectorAll('wbr').length).toBe(13)
    expect(url.closest('.break-all')).toBeNull()
    expect(within(overview).getByRole('button', { name: 'Copy target URL' })).toBeInTheDocument()
    // The other facts wrap whole words too.
    expect(overview.querySelector('dd.break-all')).toBeNull()
  })

  it('shows the API’s detail when a subscription cannot be loaded', async () => {
    mockApi({ ...base, [`GET /api/v1/subscriptions/${SUB.id}`]: problem(404, 'not found') })
    renderApp(`/subscriptions/${SUB.id}`)

    expect(await screen.findByRole('alert')).toHaveTextContent('not found')
  })
})

describe('a FIFO subscription’s line', () => {
  const FIFO: Subscription = { ...SUB, ordering: 'fifo', on_dead: 'pause' }
  const LINE = `GET /api/v1/subscriptions/${SUB.id}/line`
  const HEAD = {
    id: '0190a000-0000-7000-8000-0000000000d1',
    event_id: '0190a000-0000-7000-8000-0000000000e1',
    subscription_id: SUB.id,
    event_type: 'order.paid',
    status: 'retrying' as const,
    attempt_count: 3,
    next_attempt_at: '2030-01-01T00:05:00Z',
    last_status_code: 503,
    last_error_kind: 'http_status',
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:01:00Z',
    succeeded_at: null,
    dead_at: null,
  }
  const retrying = { ordering: 'fifo', on_dead: 'pause', state: 'retrying', paused_at: null, head: HEAD, waiting: 42 }
  const paused = {
    ...retrying,
    state: 'paused',
    paused_at: '2025-01-01T00:10:00Z',
    head: { ...HEAD, status: 'dead', attempt_count: 8, next_attempt_at: null, last_status_code: 500, dead_at: '2025-01-01T00:10:00Z' },
    waiting: 7,
  }
  const fifoBase = { ...base, [`GET /api/v1/subscriptions/${SUB.id}`]: json(FIFO) }
  const section = async () => (await screen.findByRole('heading', { name: 'FIFO line' })).closest('section')!

  it('shows the state, the count waiting behind the head and why the head is stuck', async () => {
    const http = mockApi({ ...fifoBase, [LINE]: json(retrying) })
    renderApp(`/subscriptions/${SUB.id}`)

    const line = await section()
    expect(await within(line).findByText('42 waiting behind the head')).toBeInTheDocument()
    expect(line).toHaveTextContent('Retrying the head')
    const head = within(line).getByRole('group', { name: 'Head of the line' })
    expect(within(head).getByRole('link', { name: HEAD.id })).toHaveAttribute('href', `/deliveries/${HEAD.id}`)
    expect(head).toHaveTextContent('Last answerHTTP 503')
    expect(head).not.toHaveTextContent('http_status')
    expect(head).toHaveTextContent('3')
    expect(head).toHaveTextContent('Next attempt')
    // Nothing to resume while the head is only retrying.
    expect(within(line).queryByRole('button', { name: 'Replay dead head' })).toBeNull()
    expect(http.callsTo(LINE)[0].credentials).toBe('same-origin')
  })

  it('is not shown, nor asked for, for an unordered subscription', async () => {
    const http = mockApi({ ...base, [LINE]: json(retrying) })
    renderApp(`/subscriptions/${SUB.id}`)

    expect(await screen.findByRole('heading', { name: 'orders' })).toBeInTheDocument()
    await screen.findByRole('heading', { name: 'Recent deliveries' })
    expect(screen.queryByRole('heading', { name: 'FIFO line' })).toBeNull()
    expect(screen.queryByText(/waiting behind the head/)).toBeNull()
    expect(http.callsTo(LINE)).toHaveLength(0)
  })

  it('replays the dead head of a paused line and shows the line moving again', async () => {
    let replayed = false
    const http = mockApi({
      ...fifoBase,
      [LINE]: () => json(replayed ? { ...retrying, state: 'flowing', head: { ...HEAD, status: 'pending' }, waiting: 7 } : paused),
      [`POST /api/v1/dead-letters/${HEAD.id}/replay`]: () => {
        replayed = true
        return { status: 202, body: {} }
      },
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const line = await section()
    expect(await within(line).findByText('Paused on a dead delivery')).toBeInTheDocument()
    expect(line).toHaveTextContent('7 waiting behind the head')
    expect(line).toHaveTextContent('HTTP 500')
    expect(line).toHaveTextContent('Paused at')
    expect(within(line).getByRole('button', { name: 'Discard dead head' })).toBeEnabled()

    await userEvent.click(within(line).getByRole('button', { name: 'Replay dead head' }))

    await waitFor(() => expect(http.callsTo(`POST /api/v1/dead-letters/${HEAD.id}/replay`)).toHaveLength(1))
    // The line is read again: it has moved on, and the buttons are gone.
    expect(await within(line).findByText('Flowing')).toBeInTheDocument()
    expect(within(line).queryByRole('button', { name: 'Replay dead head' })).toBeNull()
    expect(line).toHaveTextContent('Dead head replayed')
  })

  it('discards the dead head of a paused line after confirming', async () => {
    const { vi } = await import('vitest')
    vi.spyOn(window, 'confirm').mockReturnValue(true)
    const http = mockApi({
      ...fifoBase,
      [LINE]: json(paused),
      [`DELETE /api/v1/dead-letters/${HEAD.id}`]: { status: 204 },
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const line = await section()
    await userEvent.click(await within(line).findByRole('button', { name: 'Discard dead head' }))

    await waitFor(() => expect(http.callsTo(`DELETE /api/v1/dead-letters/${HEAD.id}`)).toHaveLength(1))
    expect(http.callsTo(`POST /api/v1/dead-letters/${HEAD.id}/replay`)).toHaveLength(0)
  })

  it('says why a replay was refused', async () => {
    mockApi({
      ...fifoBase,
      [LINE]: json(paused),
      [`POST /api/v1/dead-letters/${HEAD.id}/replay`]: problem(409, 'the delivery is not dead'),
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const line = await section()
    await userEvent.click(await within(line).findByRole('button', { name: 'Replay dead head' }))

    expect(await within(line).findByRole('alert')).toHaveTextContent('Could not replay: the delivery is not dead')
  })

  it.each([
    [404, 'subscription not found'],
    [500, 'the database is away'],
  ])('shows an error, not a crash, when the line answers %i', async (status, detail) => {
    mockApi({ ...fifoBase, [LINE]: problem(status, detail) })
    renderApp(`/subscriptions/${SUB.id}`)

    const line = await section()
    expect(await within(line).findByRole('alert')).toHaveTextContent(`Could not load the FIFO line: ${detail}`)
    // The rest of the page is still there.
    expect(screen.getByRole('heading', { name: 'Settings' })).toBeInTheDocument()
    expect(screen.getByRole('heading', { name: 'orders' })).toBeInTheDocument()
  })
})

const BATCHED: Subscription = { ...SUB, batch: { max_events: 100, max_wait_ms: 2000 } }

describe('a subscription’s batch', () => {
  it('is sent as {max_events, max_wait_ms} and the API’s 422 naming batch shows under the batch size', async () => {
    const http = mockApi({
      ...base,
      'POST /api/v1/subscriptions': problem(422, 'the request has invalid fields', [{ field: 'batch', message: 'cannot be combined with `ordering: fifo`' }]),
    })
    renderApp('/subscriptions/new')

    await userEvent.type(screen.getByLabelText('Name'), 'bulk')
    await userEvent.type(screen.getByLabelText('Target URL'), 'https://example.com/bulk')
    await userEvent.type(screen.getByLabelText('Batch size (events)'), '100')
    await userEvent.type(screen.getByLabelText('Batch wait (ms)'), '2000')
    await userEvent.selectOptions(screen.getByLabelText('Ordering'), 'fifo')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))

    await waitFor(() => expect(screen.getByLabelText('Batch size (events)')).toHaveAccessibleDescription(/cannot be combined with `ordering: fifo`/))
    expect(screen.getByLabelText('Batch size (events)')).toBeInvalid()
    expect(screen.queryByText(/^batch:/)).not.toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/subscriptions')[0].body).toMatchObject({ batch: { max_events: 100, max_wait_ms: 2000 }, ordering: 'fifo' })
  })

  it('catches a batch size without a wait before calling the API', async () => {
    const http = mockApi(base)
    renderApp('/subscriptions/new')

    await userEvent.type(screen.getByLabelText('Name'), 'bulk')
    await userEvent.type(screen.getByLabelText('Target URL'), 'https://example.com/bulk')
    await userEvent.type(screen.getByLabelText('Batch size (events)'), '100')
    await userEvent.click(screen.getByRole('button', { name: 'Create subscription' }))

    expect(screen.getByLabelText('Batch wait (ms)')).toHaveAccessibleDescription(/must be a whole number/)
    expect(http.callsTo('POST /api/v1/subscriptions')).toHaveLength(0)
  })

  it('shows the stored batch and clears it with null when both fields are emptied', async () => {
    const http = mockApi({
      ...base,
      [`GET /api/v1/subscriptions/${SUB.id}`]: json(BATCHED),
      [`PATCH /api/v1/subscriptions/${SUB.id}`]: (call) => json({ ...BATCHED, ...(call.body as object) }),
    })
    renderApp(`/subscriptions/${SUB.id}`)

    const size = await screen.findByLabelText('Batch size (events)')
    expect(size).toHaveValue('100')
    expect(screen.getByLabelText('Batch wait (ms)')).toHaveValue('2000')
    await userEvent.clear(size)
    await userEvent.clear(screen.getByLabelText('Batch wait (ms)'))
    await userEvent.click(screen.getByRole('button', { name: 'Save changes' }))

    expect(await screen.findByText('Changes saved.')).toBeInTheDocument()
    expect(http.callsTo(`PATCH /api/v1/subscriptions/${SUB.id}`)[0].body).toMatchObject({ batch: null })
  })
})
