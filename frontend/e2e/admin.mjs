// End-to-end, the operator's part: the first account on a fresh Warren is its operator. It
// sees the Admin section (users, invites, open circuits, the broker's queues); a signup
// without an invite is refused with Warren's reason; the operator invites a second email, the
// second person signs up with the link (the link works once), sees no Admin section and gets
// 403 from the operators' routes; the operator disables them (their next API call answers
// 401 and the app goes back to the login page, ingest to their source answers 404, login is
// refused), then enables them (they log in again, their source takes events again).
//
// Needs a Warren whose signup mode is `invite` (the default; scripts/e2e sets it) and a
// `page` signed in as its operator.
import { assert, BASE, nav, RUN, shot, step, WAIT } from './lib.mjs'

const PASSWORD = 'another horse battery staple'

/** A heading of the login page: where the app goes when the session ends. */
const loginHeading = (page) => page.getByRole('heading', { name: 'Log in to Warren' })

/** Opens an Admin tab (Users, Invites, Open circuits, Queues) from the main navigation. */
async function adminTab(page, name) {
  await nav(page, 'Admin')
  await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name, exact: true }).click()
}

/** The users table's row of one email. */
const userRow = (page, email) => page.getByRole('table', { name: 'Users' }).getByRole('row').filter({ hasText: email })

/** Clicks a button that asks for confirmation (window.confirm), and accepts. */
async function confirmClick(page, button) {
  page.once('dialog', (dialog) => dialog.accept())
  await button.click()
}

/** POSTs an event to an ingest URL (its path, on BASE) and returns the status. */
async function ingestStatus(ingestUrl) {
  const res = await fetch(`${BASE}${new URL(ingestUrl).pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'order.paid', id: 7 }),
  })
  await res.arrayBuffer()
  return res.status
}

/** Fills the signup form (Email unless prefilled, Password) and presses Sign up. */
async function signUp(page, email) {
  if (email !== undefined) await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Sign up' }).click()
}

/** Waits for the signup form's refusal and returns its text. */
async function refusal(page) {
  const alert = page.getByRole('alert')
  await alert.waitFor()
  assert(await page.getByRole('heading', { name: 'Create your Warren account' }).isVisible(), 'the refused signup left the signup page')
  return (await alert.textContent()).trim()
}

/**
 * The operator's steps. `page` is signed in as the operator (`operatorEmail`); `browser` opens
 * the other people's contexts; their page errors go to `pageErrors`.
 */
export async function operatorSteps({ browser, page, operatorEmail, pageErrors }) {
  const invitedEmail = `e2e-invited-${RUN}@example.com`
  const contexts = []
  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: BASE })
    context.setDefaultTimeout(WAIT)
    contexts.push(context)
    const other = await context.newPage()
    other.on('pageerror', (e) => pageErrors.push(e.message))
    return other
  }

  try {
    await step('the first account is the operator: Admin lists it, and the broker’s queues moved there from the dashboard', async () => {
      await nav(page, 'Dashboard')
      await page.getByRole('heading', { name: 'Backlog' }).waitFor()
      assert(!(await page.getByRole('link', { name: 'RabbitMQ console' }).isVisible()), 'the dashboard still shows the broker’s queues')
      await adminTab(page, 'Users')
      await userRow(page, operatorEmail).filter({ hasText: '(you)' }).waitFor()
      await shot(page, 'admin-users')
      await adminTab(page, 'Queues')
      await page.getByRole('link', { name: 'RabbitMQ console' }).waitFor()
      await page.getByRole('row').filter({ hasText: /\.deliver/ }).first().waitFor()
      await shot(page, 'admin-queues')
      await adminTab(page, 'Open circuits')
      await page.getByRole('table', { name: 'Open circuits' }).or(page.getByText('No open circuits.')).waitFor()
      await shot(page, 'admin-circuits')
    })

    const stranger = await newPage()
    await step('a signup without an invite is refused with Warren’s reason (403)', async () => {
      await stranger.goto('/signup')
      await signUp(stranger, `e2e-stranger-${RUN}@example.com`)
      const text = await refusal(stranger)
      assert(/invite/i.test(text), `the refusal does not mention the invite: ${text}`)
      await stranger.getByText('Ask the operator of this Warren for an invite link, and open it to sign up.').waitFor()
      await shot(stranger, 'signup-refused')
    })

    const link = await step('the operator invites a second email and gets its link, once', async () => {
      await adminTab(page, 'Invites')
      await page.getByLabel('Email', { exact: true }).fill(invitedEmail)
      await page.getByRole('button', { name: 'Create invite' }).click()
      const box = page.getByLabel('Invite link')
      const refused = page.locator('[data-field-error], [role=alert]').first()
      await box.or(refused).waitFor()
      if (!(await box.isVisible())) throw new Error(`Warren refused the invite: ${(await page.locator('[data-field-error], [role=alert]').allTextContents()).join('; ')}`)
      const url = new URL((await box.textContent()).trim())
      assert(url.origin === new URL(BASE).origin && url.pathname === '/signup', `not a signup link of this Warren: ${url}`)
      assert(url.searchParams.get('email') === invitedEmail && url.searchParams.get('invite'), `the link lacks the invite or the email: ${url}`)
      await page.getByRole('button', { name: 'Copy link' }).waitFor()
      const row = page.getByRole('list', { name: 'Invites' }).getByRole('listitem').filter({ hasText: invitedEmail })
      await row.filter({ hasText: 'open' }).waitFor()
      assert(!(await page.getByRole('list', { name: 'Invites' }).textContent()).includes(url.searchParams.get('invite')), 'the invite list shows the token')
      await shot(page, 'admin-invites')
      return url.toString()
    })

    const invited = await newPage()
    const ingestUrl = await step('the second person signs up with the link, and gets a plain user’s app', async () => {
      await invited.goto(link)
      await invited.getByText(/You were invited to this Warren/).waitFor()
      const prefilled = await invited.getByLabel('Email').inputValue()
      assert(prefilled === invitedEmail, `the Email field holds ${prefilled}, not ${invitedEmail}`)
      await shot(invited, 'signup-invite')
      await signUp(invited)
      await invited.getByRole('heading', { name: 'Dashboard' }).waitFor()
      assert(!(await invited.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).count()), 'a plain user sees the Admin link')
      for (const path of ['/api/v1/admin/users', '/api/v1/invites', '/api/v1/queues', '/api/v1/admin/subscriptions?circuit_state=open']) {
        const res = await invited.context().request.get(path)
        assert(res.status() === 403, `${path} answered ${res.status()} to a plain user`)
      }
      await invited.goto('/admin/users')
      await invited.getByText('Admin is for the operator of this Warren.').waitFor()
      await nav(invited, 'Sources')
      await invited.getByLabel('Name', { exact: true }).fill(`e2e invited source ${RUN}`)
      await invited.getByRole('button', { name: 'Create source' }).click()
      const url = (await invited.locator('[data-ingest-url]').first().textContent()).trim()
      assert((await ingestStatus(url)) === 202, 'the invited user’s source does not take events')
      return url
    })

    await step('the invite works once: the same link is refused, and shows as used', async () => {
      const again = await newPage()
      await again.goto(link)
      await signUp(again)
      const text = await refusal(again)
      assert(text.length > 0, 'the reused invite was refused without a reason')
      await adminTab(page, 'Invites')
      await page.getByRole('list', { name: 'Invites' }).getByRole('listitem').filter({ hasText: invitedEmail }).filter({ hasText: 'used' }).waitFor()
    })

    await step('the operator disables them: their next API call answers 401 and the app goes back to login', async () => {
      await adminTab(page, 'Users')
      const row = userRow(page, invitedEmail)
      await confirmClick(page, row.getByRole('button', { name: 'Disable' }))
      await row.getByRole('button', { name: 'Enable' }).waitFor()
      await row.getByText('disabled', { exact: true }).waitFor()
      const me = await invited.context().request.get('/api/v1/me')
      assert(me.status() === 401, `the disabled user's session answered ${me.status()}`)
      // The app notices on its next call (or sooner, when Warren closes its live socket).
      await invited.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events', exact: true }).click({ timeout: 2_000 }).catch(() => {})
      await loginHeading(invited).waitFor()
      assert((await ingestStatus(ingestUrl)) === 404, 'ingest to a disabled user’s source does not answer 404')
      await invited.getByLabel('Email').fill(invitedEmail)
      await invited.getByLabel('Password').fill(PASSWORD)
      await invited.getByRole('button', { name: 'Log in' }).click()
      await invited.getByRole('alert').waitFor()
      assert(await loginHeading(invited).isVisible(), 'a disabled user logged in')
      await shot(invited, 'login-disabled')
    })

    await step('the operator enables them: they log in again and their source takes events again', async () => {
      const row = userRow(page, invitedEmail)
      await confirmClick(page, row.getByRole('button', { name: 'Enable' }))
      await row.getByRole('button', { name: 'Disable' }).waitFor()
      await invited.getByRole('button', { name: 'Log in' }).click()
      // Signed in again, back on the page the 401 took them from.
      await invited.getByRole('button', { name: 'Log out' }).waitFor()
      assert((await invited.context().request.get('/api/v1/me')).status() === 200, 'the enabled user’s new session does not work')
      assert((await ingestStatus(ingestUrl)) === 202, 'the enabled user’s source does not take events')
    })
  } finally {
    for (const context of contexts) await context.close()
  }
}
