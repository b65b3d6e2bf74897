import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'
import { json, mockApi, page, problem, type Route } from '../../test/http'
import { renderApp, USER } from '../../test/render'

const SECRET = 'whsec_bm90aWZ5bm90aWZ5bm90aWZ5'
const HOOK = {
  id: '0190a000-0000-7000-8000-0000000000c1',
  name: 'pager',
  kind: 'webhook',
  target_url: 'https://alerts.example.com/warren',
  types: ['delivery.dead', 'subscription.disabled'],
  created_at: '2025-01-01T00:00:00Z',
}
const MAIL = { id: '0190a000-0000-7000-8000-0000000000c2', name: 'on call', kind: 'email', email: 'oncall@example.com', types: [], created_at: '2025-01-01T00:00:00Z' }

function setup(channels: () => unknown[], extra: Record<string, Route> = {}) {
  vi.spyOn(window, 'confirm').mockReturnValue(true)
  return mockApi({
    'GET /api/v1/me': () => json(USER),
    'GET /api/v1/notifications': () => json({ ...page([]), unread: 0 }),
    'GET /api/v1/notification-channels': () => json(page(channels())),
    ...extra,
  })
}

const channelRow = async (name: string) =>
  within(await screen.findByRole('list', { name: 'Notification channels' }))
    .getAllByRole('listitem')
    .find((li) => li.textContent?.includes(name))!

describe('notification settings', () => {
  it('creates a webhook channel for chosen types and shows its signing secret once', async () => {
    const channels: unknown[] = []
    const http = setup(() => channels, {
      'POST /api/v1/notification-channels': (call) => {
        channels.push({ ...HOOK, ...(call.body as object) })
        return json({ ...HOOK, signing_secret: SECRET }, 201)
      },
    })
    renderApp('/notifications/settings')

    expect(await screen.findByText('No channels yet.')).toBeInTheDocument()
    await userEvent.type(screen.getByLabelText('Name'), 'pager')
    expect(screen.getByLabelText('Kind')).toHaveValue('webhook')
    expect(screen.queryByLabelText('Email')).toBeNull()
    await userEvent.type(screen.getByLabelText('Target URL'), 'https://alerts.example.com/warren')
    await userEvent.click(screen.getByLabelText('Disabled by Warren'))
    await userEvent.click(screen.getByLabelText('Delivery dead'))
    await userEvent.click(screen.getByRole('button', { name: 'Create channel' }))

    expect(await screen.findByLabelText('Signing secret')).toHaveTextContent(SECRET)
    expect(screen.getByText('Channel “pager” created.')).toBeInTheDocument()
    expect(http.callsTo('POST /api/v1/notification-channels')[0].body).toEqual({
      name: 'pager',
      kind: 'webhook',
      target_url: 'https://alerts.example.com/warren',
      // In the contract's order, whatever the order they were ticked in.
      types: ['subscription.disabled', 'delivery.dead'],
    })
    const row = await channelRow('pager')
    expect(row).toHaveTextContent('https://alerts.example.com/warren')
    expect(row).toHaveTextContent('subscription.disabled, delivery.dead')
    // The form is empty again, and the list never shows the secret.
    expect(screen.getByLabelText('Name')).toHaveValue('')
    expect(row).not.toHaveTextContent(SECRET)
  })

  it('creates an email channel for every type', async () => {
    const http = setup(() => [], { 'POST /api/v1/notification-channels': () => json(MAIL, 201) })
    renderApp('/notifications/settings')

    await userEvent.type(await screen.findByLabelText('Name'), 'on call')
    await userEvent.selectOptions(screen.getByLabelText('Kind'), 'email')
    expect(screen.queryByLabelText('Target URL')).toBeNull()
    await userEvent.type(screen.getByLabelText('Email'), 'oncall@example.com')
    await userEvent.click(screen.getByRole('button', { name: 'Create channel' }))

    expect(await screen.findByText('Channel “on call” created.')).toBeInTheDocument()
    expect(screen.queryByLabelText('Signing secret')).toBeNull()
    expect(http.callsTo('POST /api/v1/notification-channels')[0].body).toEqual({ name: 'on call', kind: 'email', email: 'oncall@example.com' })
  })

  it('shows each field error of a 422 next to its own field', async () => {
    setup(() => [], {
      'POST /api/v1/notification-channels': () =>
        problem(422, 'the request has invalid fields', [
          { field: 'target_url', message: 'points at a non-public address (10.0.0.1)' },
          { field: 'name', message: 'must not be empty' },
          { field: 'types[1]', message: 'is not a notification type' },
        ]),
    })
    renderApp('/notifications/settings')

    await userEvent.type(await screen.findByLabelText('Target URL'), 'http://10.0.0.1/hook')
    await userEvent.click(screen.getByRole('button', { name: 'Create channel' }))

    await waitFor(() => expect(screen.getByLabelText('Target URL')).toHaveAccessibleDescription(/non-public address \(10\.0\.0\.1\)/))
    expect(screen.getByLabelText('Target URL')).toBeInvalid()
    expect(screen.getByLabelText('Name')).toHaveAccessibleDescription('must not be empty')
    expect(screen.getByRole('group', { name: 'Types' })).toHaveAccessibleDescription(/is not a notification type/)
    expect(screen.queryByText(/created/)).toBeNull()
  })

  it('shows the email field’s error under Email', async () => {
    setup(() => [], { 'POST /api/v1/notification-channels': () => problem(422, 'invalid', [{ field: 'email', message: 'is not an email address' }]) })
    renderApp('/notifications/settings')

    await userEvent.selectOptions(await screen.findByLabelText('Kind'), 'email')
    await userEvent.type(screen.getByLabelText('Email'), 'nope')
    await userEvent.click(screen.getByRole('button', { name: 'Create channel' }))

    await waitFor(() => expect(screen.getByLabelText('Email')).toHaveAccessibleDescription(/is not an email address/))
  })

  it('sends a test to one channel and says so in its row', async () => {
    const http = setup(() => [HOOK, MAIL], { [`POST /api/v1/notification-channels/${MAIL.id}/test`]: () => ({ status: 202, body: {} }) })
    renderApp('/notifications/settings')

    const row = await channelRow('on call')
    expect(row).toHaveTextContent('oncall@example.com')
    expect(row).toHaveTextContent('Every type')
    await userEvent.click(within(row).getByRole('button', { name: 'Send test' }))

    expect(await within(row).findByText(/Test sent/)).toBeInTheDocument()
    expect(http.callsTo(`POST /api/v1/notification-channels/${MAIL.id}/test`)).toHaveLength(1)
    expect(within(await channelRow('pager')).queryByText(/Test sent/)).toBeNull()
  })

  it('shows why a test could not be sent', async () => {
    setup(() => [HOOK], { [`POST /api/v1/notification-channels/${HOOK.id}/test`]: () => problem(404, 'notification channel not found') })
    renderApp('/notifications/settings')

    const row = await channelRow('pager')
    await userEvent.click(within(row).getByRole('button', { name: 'Send test' }))

    expect(await within(row).findByRole('alert')).toHaveTextContent('Could not send a test: notification channel not found')
  })

  it('deletes a channel after confirming', async () => {
    let channels = [HOOK, MAIL]
    const http = setup(() => channels, {
      [`DELETE /api/v1/notification-channels/${HOOK.id}`]: () => {
        channels = [MAIL]
        return { status: 204 }
      },
    })
    renderApp('/notifications/settings')

    await userEvent.click(within(await channelRow('pager')).getByRole('button', { name: 'Delete' }))

    await waitFor(() => expect(within(screen.getByRole('list', { name: 'Notification channels' })).getAllByRole('listitem')).toHaveLength(1))
    expect(http.callsTo(`DELETE /api/v1/notification-channels/${HOOK.id}`)).toHaveLength(1)
    expect(window.confirm).toHaveBeenCalledWith(expect.stringContaining('pager'))
  })
})
