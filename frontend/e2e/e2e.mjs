// End-to-end: a person using the web app of a running Warren, in headless Chromium.
//
//   WARREN_URL=http://127.0.0.1:8080 node e2e/e2e.mjs      (npm run e2e)
//
// Warren must be allowed to deliver to the loopback, where this script runs its receiver, and
// have no users yet (this run's signup must be its first, which makes it the operator; signup
// is by invite after that, the default `WARREN_SIGNUP=invite`). scripts/e2e does all that:
//   WARREN_ALLOW_TARGET_CIDRS=127.0.0.1/32 scripts/run          (on an empty database)
//
// Flow: sign up through the form; create a source and a subscription to the local receiver;
// POST an event to the ingest URL and watch the delivery appear in the live log without a
// reload; search events by payload content; pause the subscription, post events while it is paused and see them held, resume it
// with "Deliver held" and see the receiver get them; replay a time range to it; create a
// webhook notification channel to the receiver and send it a test; make the receiver fail,
// let a max_attempts=1 subscription kill a delivery, see the delivery.dead notification in the
// app (unread badge, live) and at the channel, find the delivery in Dead letters, replay it
// from there once the receiver answers 200, and see it succeed. Then the operator's part
// (admin.mjs): this run's account, the first on the instance, is its operator; it invites a
// second person, who signs up with the link, and disables and enables them. Along the way:
// the session lives only in an HttpOnly cookie (no token where scripts can read it), a
// cookie-carried write from another origin is refused, and logging out ends the session on
// the server.
// A screenshot of each page goes to ../target/screenshots/<page>.png (phone width too).
// Exits non-zero on the first failure.
import { createHmac } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import http from 'node:http'
import { chromium } from 'playwright-core'
import { operatorSteps } from './admin.mjs'
import { assert, BASE, chartAxisLabels, CHROMIUM, nav, RUN, shot, SHOTS, STARTED, step, until, WAIT, wordsCutAcrossLines } from './lib.mjs'

// ---- the receiver: a webhook endpoint on the loopback that answers what we tell it ---------

/** Where the notification channel points: it always answers 200, whatever `status` says. */
const NOTIFY_PATH = '/notify'

function startReceiver() {
  const state = { status: 200, requests: [] }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const status = req.url === NOTIFY_PATH ? 200 : state.status
      state.requests.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered: status })
      res.writeHead(status, { 'content-type': 'text/plain' })
      res.end(status < 300 ? 'ok' : 'receiver says no')
    })
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ state, server, url: `http://127.0.0.1:${server.address().port}` }))
  })
}

/** Waits until the receiver has a request matching `pred`, and returns it. */
async function received(receiver, pred, what) {
  const deadline = Date.now() + WAIT
  while (Date.now() < deadline) {
    const hit = receiver.state.requests.find(pred)
    if (hit) return hit
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`the receiver never got ${what}`)
}

/** A request's body as JSON, or null. */
function jsonOf(request) {
  try {
    return JSON.parse(request.body)
  } catch {
    return null
  }
}

/** The notifications the receiver got at NOTIFY_PATH of this type. */
const notified = (type) => (r) => r.path === NOTIFY_PATH && jsonOf(r)?.type === type

/** Standard Webhooks: v1,<base64 HMAC-SHA256 of id.timestamp.body> with the base64 key after whsec_. */
function signedWith(secret, request) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': signatures = '' } = request.headers
  const expected = `v1,${createHmac('sha256', key).update(`${id}.${ts}.${request.body}`).digest('base64')}`
  return signatures.split(' ').includes(expected)
}

// ---- helpers ---------------------------------------------------------------------------------

/** The navigation's Notifications link: "Notifications", or "Notifications 3 unread" with its badge. */
const notificationsLink = (page) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Notifications( \d+ unread)?$/ })

/** A time as a datetime-local input wants it, in the browser's (this machine's) time zone. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

/** POSTs an event to a source's ingest URL (its path, on WARREN_URL) from node. */
async function ingest(ingestUrl, body) {
  const url = `${BASE}${new URL(ingestUrl).pathname}`
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  assert(res.status === 202, `ingest answered ${res.status}: ${text}`)
  return JSON.parse(text)
}

/** Fills and submits the new-subscription form; fails with the form's errors if it refuses. */
async function createSubscription(page, { name, targetUrl, sourceName, eventTypes, maxAttempts, filter }) {
  await nav(page, 'Subscriptions')
  await page.getByRole('link', { name: 'New subscription' }).click()
  await page.getByLabel('Name', { exact: true }).fill(name)
  await page.getByLabel('Target URL').fill(targetUrl)
  await page.getByLabel('Source').selectOption({ label: sourceName })
  await page.getByLabel('Event types').fill(eventTypes)
  if (maxAttempts) await page.getByLabel('Max attempts').fill(String(maxAttempts))
  if (filter) await page.getByLabel('Payload filter').fill(JSON.stringify(filter))
  await page.getByRole('button', { name: 'Create subscription' }).click()
  const created = page.getByRole('heading', { name, exact: true })
  const refused = page.locator('[data-field-error], [role=alert]').first()
  await created.or(refused).waitFor({ timeout: WAIT })
  if (!(await created.isVisible())) {
    const errors = await page.locator('[data-field-error], [role=alert]').allTextContents()
    throw new Error(
      `Warren refused the subscription: ${errors.join('; ')}` +
        (errors.join(' ').includes('non-public') ? ' (start Warren with WARREN_ALLOW_TARGET_CIDRS=127.0.0.1/32)' : ''),
    )
  }
  return page.url().split('/').pop()
}

/** The browser's session cookie for Warren. */
async function sessionCookie(context) {
  const cookie = (await context.cookies(BASE)).find((c) => c.name === 'warren_session' && c.value)
  assert(cookie, 'the browser holds no warren_session cookie')
  return cookie
}

/** Waits for the live log to say it is connected to socket.io. */
async function liveConnected(page) {
  await page
    .getByText('Connected', { exact: true })
    .waitFor()
    .catch(async () => {
      const why = await page.getByRole('alert').allTextContents()
      throw new Error(`the live log never connected to socket.io at /socket.io/ ${why.length ? `(${why.join('; ')})` : ''}`)
    })
}

/** The live log line of one delivery's attempt with this outcome. */
function liveLine(page, deliveryId, outcome) {
  return page
    .getByRole('table', { name: 'Delivery attempts' })
    .getByRole('row')
    .filter({ has: page.getByRole('link', { name: `Delivery ${deliveryId}` }) })
    .filter({ hasText: outcome })
}

/** Every chart's value-axis labels fit inside it on one line, and start with a digit (no ".75 ms"). */
async function axisLabelsFit(page, what) {
  await page.locator('.recharts-wrapper > svg.recharts-surface').first().waitFor()
  const charts = await chartAxisLabels(page.locator('main'))
  assert(charts.length >= 4, `${what}: expected the dashboard's four charts, found ${charts.length}`)
  for (const { labels, clipped, wrapped } of charts) {
    assert(labels.length > 0, `${what}: a chart has no value-axis labels`)
    assert(clipped.length === 0, `${what}: value-axis labels cut at the chart's edge: ${clipped.join(', ')}`)
    assert(wrapped.length === 0, `${what}: value-axis labels wrapped onto two lines: ${wrapped.join(', ')}`)
    assert(labels.every((l) => /^-?\d/.test(l)), `${what}: value-axis labels that do not start with a digit: ${labels.join(', ')}`)
  }
}

/** The success-rate chart draws bars (not a lone dot) and the window's rate across. */
async function successRateBars(page, what) {
  const success = page.getByRole('img', { name: 'Success rate per bucket' })
  await success.getByText(/^\d+(\.\d)?% over 1h$/).waitFor()
  const bars = await success.locator('.recharts-bar-rectangle path').evaluateAll((paths) => paths.map((p) => p.getBoundingClientRect()).filter((r) => r.height > 0))
  assert(bars.length > 0, `${what}: the success-rate chart draws no bar`)
  assert(bars.every((r) => r.width >= 3), `${what}: the success-rate chart's bars are ${bars.map((r) => r.width.toFixed(1)).join(', ')} px wide`)
  const ticks = await success.locator('.recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-value').count()
  assert(ticks >= 4, `${what}: the success-rate chart's time axis has ${ticks} labels, not the window`)
}

/** Shows the dashboard with `GET /stats` answers rewritten by `rewrite` (the real one first). */
async function dashboardWithStats(page, rewrite) {
  const isStats = (url) => url.pathname === '/api/v1/stats'
  await page.route(isStats, async (route) => {
    const response = await route.fetch()
    await route.fulfill({ response, json: rewrite(await response.json()) })
  })
  try {
    await page.reload()
    await page.getByRole('heading', { name: 'Deliveries per minute' }).waitFor()
    await page.locator('.recharts-wrapper').first().waitFor()
  } finally {
    await page.unroute(isStats)
  }
}

/**
 * The dashboard's charts can be read, with this run's figures and with figures made to be
 * hard: latencies under a millisecond (whose axis once read ".75 ms") and over ten seconds,
 * and a sparse series of one busy minute (once a lone dot in the success-rate chart).
 */
async function chartsReadable(page) {
  await axisLabelsFit(page, 'this run')
  await successRateBars(page, 'this run')
  const latencies = (latency_ms) => (stats) => ({ ...stats, data: stats.data.map((s) => ({ ...s, latency_ms })) })
  await dashboardWithStats(page, latencies({ avg: 0.5, p50: 0.25, p95: 0.5, p99: 0.75 }))
  await axisLabelsFit(page, 'latencies under 1 ms')
  await dashboardWithStats(page, latencies({ avg: 4000, p50: 900, p95: 9000, p99: 12500 }))
  await axisLabelsFit(page, 'latencies over 10 s')
  await dashboardWithStats(page, (stats) => ({
    ...stats,
    data: stats.data.map((s, i) => ({ ...s, series: i === 0 ? [{ ...s.series.at(-1), succeeded: 3, failed: 1 }] : [] })),
  }))
  await successRateBars(page, 'one busy minute')
  // Back to this run's own figures.
  await dashboardWithStats(page, (stats) => stats)
}

// ---- the flow --------------------------------------------------------------------------------

async function main() {
  await mkdir(SHOTS, { recursive: true })
  const health = await fetch(`${BASE}/healthz`).catch((e) => ({ ok: false, status: e.message }))
  assert(health.ok, `Warren is not answering at ${BASE}/healthz (${health.status}); start it first (scripts/run)`)

  const receiver = await startReceiver()
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  const pageErrors = []
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: BASE })
    context.setDefaultTimeout(WAIT)
    const page = await context.newPage()
    page.on('pageerror', (e) => pageErrors.push(e.message))

    const email = `e2e-${RUN}@example.com`
    const password = 'correct horse battery staple'
    const sourceName = `e2e shop ${RUN}`

    await step('sign up through the form', async () => {
      await page.goto('/signup')
      await page.getByLabel('Email').fill(email)
      await page.getByLabel('Password').fill(password)
      await shot(page, 'signup')
      await page.getByRole('button', { name: 'Sign up' }).click()
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor()
    })

    await step('the session lives in an HttpOnly cookie, and no token is where scripts can read it', async () => {
      const cookie = await sessionCookie(context)
      assert(cookie.httpOnly, 'the session cookie is not HttpOnly')
      assert(cookie.sameSite === 'Lax' || cookie.sameSite === 'Strict', `the session cookie is SameSite=${cookie.sameSite}`)
      assert(cookie.path === '/', `the session cookie's path is ${cookie.path}`)
      assert(cookie.secure === BASE.startsWith('https:'), `the session cookie's Secure is ${cookie.secure} for ${BASE}`)
      const readable = await page.evaluate(() => [
        document.cookie,
        ...Object.keys(localStorage).map((k) => `${k}=${localStorage.getItem(k)}`),
        ...Object.keys(sessionStorage).map((k) => `${k}=${sessionStorage.getItem(k)}`),
      ])
      assert(!readable.join(' ').includes(cookie.value), `scripts can read the session token: ${readable.join(' ')}`)
      assert(!readable.join(' ').includes('wrn_sess_'), `a session token is where scripts can read it: ${readable.join(' ')}`)
    })

    const ingestUrl = await step('create a source and read its ingest URL', async () => {
      await nav(page, 'Sources')
      await page.getByLabel('Name', { exact: true }).fill(sourceName)
      await page.getByLabel('Provider').selectOption('none')
      await page.getByRole('button', { name: 'Create source' }).click()
      const row = page.getByRole('listitem').filter({ hasText: sourceName })
      await row.getByRole('button', { name: 'Copy ingest URL' }).waitFor()
      const url = (await row.locator('[data-ingest-url]').textContent()).trim()
      assert(/\/ingest\/\S+$/.test(url), `not an ingest URL: ${url}`)
      await shot(page, 'sources')
      return url
    })

    const okSubscription = await step('create a subscription to the local receiver', async () => {
      const id = await createSubscription(page, { name: `e2e ok ${RUN}`, targetUrl: `${receiver.url}/ok`, sourceName, eventTypes: 'order.paid' })
      await page.getByRole('button', { name: 'Reveal secret' }).or(page.getByRole('button', { name: 'Hide secret' })).waitFor()
      await shot(page, 'subscription')
      return id
    })

    const okDelivery = await step('POST an event to the ingest URL and see it in the live log without a reload', async () => {
      await nav(page, 'Live log')
      await liveConnected(page)
      await page.evaluate(() => (window.__e2eNoReload = true))
      const accepted = await ingest(ingestUrl, { type: 'order.paid', id: 42 })
      assert(accepted.deliveries === 1, `expected 1 delivery, got ${accepted.deliveries}`)
      const hit = await received(receiver, (r) => r.path === '/ok', 'the order.paid delivery')
      const deliveryId = hit.headers['webhook-id']
      assert(hit.headers['x-warren-event-type'] === 'order.paid', 'x-warren-event-type is not order.paid')
      const line = liveLine(page, deliveryId, 'succeeded')
      await line.waitFor()
      const text = await line.textContent()
      for (const want of ['order.paid', 'succeeded', 'HTTP 200', deliveryId]) assert(text.includes(want), `the live line lacks ${want}: ${text}`)
      const headers = await page.getByRole('table', { name: 'Delivery attempts' }).getByRole('columnheader').allTextContents()
      assert(headers.join('|') === 'Time|Event|Outcome|Response|Delivery', `the live log's column headers are ${headers.join('|')}`)
      assert(await page.getByRole('columnheader', { name: 'Outcome' }).isVisible(), 'the live log’s column headers are not shown')
      assert(await page.evaluate(() => window.__e2eNoReload === true), 'the page reloaded')
      await shot(page, 'live')
      return deliveryId
    })

    await step('click through to the delivery and see its attempt', async () => {
      await page.getByRole('link', { name: `Delivery ${okDelivery}` }).click()
      const timeline = page.getByRole('list', { name: 'Attempt timeline' })
      await timeline.getByText('Attempt 1').waitFor()
      assert((await timeline.textContent()).includes('HTTP 200'), 'the attempt is not HTTP 200')
      await page.getByText('succeeded', { exact: true }).first().waitFor()
      assert((await page.getByRole('button', { name: 'Retry' }).count()) === 0, 'a succeeded delivery offers Retry')
      await shot(page, 'delivery')
    })

    await step('find the event in Events and open its payload', async () => {
      await nav(page, 'Events')
      await page.getByRole('link', { name: /order\.paid/ }).first().waitFor()
      await shot(page, 'events')
      await page.getByRole('link', { name: /order\.paid/ }).first().click()
      await page.getByLabel('Payload').waitFor()
      assert((await page.getByLabel('Payload').textContent()).includes('"id": 42'), 'the payload viewer lacks "id": 42')
      await shot(page, 'event')
    })

    await step('search Events by payload content: a JSON object finds the event, anything else is refused in the form', async () => {
      await nav(page, 'Events')
      const box = page.getByLabel('Payload contains')
      await box.fill('[42]')
      await page.getByRole('button', { name: 'Search' }).click()
      await page.getByText('Payload contains must be a JSON object', { exact: false }).waitFor()
      await box.fill('{"id": 42}')
      await page.getByRole('button', { name: 'Search' }).click()
      await page.waitForURL(/contains=/)
      await page.getByRole('link', { name: /order\.paid/ }).first().waitFor()
      assert((await page.getByRole('link', { name: /order\.paid/ }).count()) === 1, 'the search for {"id": 42} should find exactly one event')
      await box.fill('{"id": 4242}')
      await page.getByRole('button', { name: 'Search' }).click()
      await page.getByText('No events match these filters.').waitFor()
      await shot(page, 'events-search')
    })

    const okRequests = () => receiver.state.requests.filter((r) => r.path === '/ok')

    const heldEvents = await step('pause the subscription, post events while it is paused, and see them held, not delivered', async () => {
      await page.goto(`/subscriptions/${okSubscription}`)
      await page.getByRole('button', { name: 'Pause', exact: true }).click()
      await page.getByRole('button', { name: 'Resume', exact: true }).waitFor()
      await page.getByText('paused', { exact: true }).waitFor()
      const before = okRequests().length
      const ids = []
      for (const id of [101, 102]) {
        const accepted = await ingest(ingestUrl, { type: 'order.paid', id })
        assert(accepted.deliveries === 1, `a paused subscription should still get a (held) delivery, got ${accepted.deliveries}`)
        ids.push(accepted.id)
      }
      // The page asks again every few seconds while the subscription holds deliveries.
      await page.getByText('2 deliveries held.').waitFor()
      await page.getByText('2 held', { exact: true }).waitFor()
      await page.getByLabel('Status', { exact: true }).selectOption('held')
      const held = page.getByRole('list', { name: 'Deliveries' }).getByRole('listitem')
      await until(async () => (await held.count()) === 2, 'two held deliveries in the list')
      assert((await held.filter({ hasText: 'held' }).count()) === 2, 'the listed deliveries are not held')
      assert(okRequests().length === before, 'the receiver got a delivery while the subscription was paused')
      await shot(page, 'subscription-paused')
      return ids
    })

    await step('resume it with "Deliver held" and see the receiver get the held events', async () => {
      await page.getByLabel('Deliver held', { exact: true }).check()
      await page.getByRole('button', { name: 'Resume', exact: true }).click()
      for (const id of heldEvents) {
        await received(receiver, (r) => r.path === '/ok' && r.headers['x-warren-event-id'] === id, `the held event ${id}`)
      }
      await page.getByRole('button', { name: 'Pause', exact: true }).waitFor()
      await page.getByText(/^Releasing \d+ held$/).waitFor({ state: 'detached' })
      await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Any status' })
      await shot(page, 'subscription-resumed')
    })

    await step('replay a time range to the subscription and see the receiver get its events again', async () => {
      const events = [...new Set(okRequests().map((r) => r.headers['x-warren-event-id']))]
      assert(events.length === 3, `expected 3 order.paid events delivered so far, the receiver saw ${events.length}`)
      const card = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Replay a time range' }) })
      // From a minute before this run began (the input takes minutes); To empty means now.
      await card.getByLabel('From', { exact: true }).fill(localInput(new Date(STARTED - 60_000)))
      await card.getByRole('button', { name: 'Replay', exact: true }).click()
      const notice = card.getByText(/^Replayed \d+ events?\.$/)
      const refused = card.locator('[data-field-error], [role=alert]').first()
      await notice.or(refused).waitFor()
      if (!(await notice.isVisible())) throw new Error(`Warren refused the replay: ${(await card.locator('[data-field-error], [role=alert]').allTextContents()).join('; ')}`)
      const replayed = Number((await notice.textContent()).match(/\d+/)[0])
      assert(replayed === 3, `expected 3 events replayed, Warren says ${replayed}`)
      for (const id of events) {
        const deliveries = () => new Set(okRequests().filter((r) => r.headers['x-warren-event-id'] === id).map((r) => r.headers['webhook-id']))
        await until(() => deliveries().size >= 2, `a replayed delivery (a new webhook-id) of event ${id} at the receiver`)
      }
      await shot(page, 'subscription-replayed')
    })

    await step('create a subscription with a payload filter and see it get only the events that contain it', async () => {
      const filter = { customer: { tier: 'gold' } }
      const id = await createSubscription(page, { name: `e2e gold ${RUN}`, targetUrl: `${receiver.url}/gold`, sourceName, eventTypes: 'order.paid', filter })
      await page.getByText('{"customer":{"tier":"gold"}}').waitFor()
      const gold = await ingest(ingestUrl, { type: 'order.paid', id: 201, customer: { tier: 'gold', name: 'Ada' } })
      const free = await ingest(ingestUrl, { type: 'order.paid', id: 202, customer: { tier: 'free' } })
      assert(gold.deliveries === 2 && free.deliveries === 1, `the gold event goes to both subscriptions, the free one only to the first: ${gold.deliveries}, ${free.deliveries}`)
      await received(receiver, (r) => r.path === '/gold' && r.headers['x-warren-event-id'] === gold.id, 'the gold event at the filtered subscription')
      // Both went out at once: the free one, had it been sent, would have arrived by now.
      await received(receiver, (r) => r.path === '/ok' && r.headers['x-warren-event-id'] === free.id, 'the free event at the unfiltered subscription')
      const wrong = receiver.state.requests.filter((r) => r.path === '/gold' && r.headers['x-warren-event-id'] !== gold.id)
      assert(wrong.length === 0, `the filtered subscription got ${wrong.length} event(s) its filter does not take`)
      await page.goto(`/subscriptions/${id}`)
      await shot(page, 'subscription-filtered')
    })

    const notifySecret = await step('create a webhook notification channel to the receiver and send it a test', async () => {
      await notificationsLink(page).click()
      await page.getByRole('heading', { name: 'Notifications', exact: true }).waitFor()
      await page.getByRole('link', { name: 'Notification settings' }).click()
      const name = `e2e pager ${RUN}`
      await page.getByLabel('Name', { exact: true }).fill(name)
      await page.getByLabel('Kind', { exact: true }).selectOption('webhook')
      await page.getByLabel('Target URL', { exact: true }).fill(`${receiver.url}${NOTIFY_PATH}`)
      await page.getByRole('button', { name: 'Create channel' }).click()
      const secretBox = page.getByLabel('Signing secret')
      const refused = page.locator('[data-field-error], [role=alert]').first()
      await secretBox.or(refused).waitFor()
      if (!(await secretBox.isVisible())) throw new Error(`Warren refused the channel: ${(await page.locator('[data-field-error], [role=alert]').allTextContents()).join('; ')}`)
      const secret = (await secretBox.textContent()).trim()
      assert(/^whsec_\S+$/.test(secret), `not a signing secret: ${secret}`)
      const row = page.getByRole('list', { name: 'Notification channels' }).getByRole('listitem').filter({ hasText: name })
      await row.waitFor()
      await shot(page, 'notification-settings')
      await row.getByRole('button', { name: 'Send test' }).click()
      await row.getByText(/^Test sent/).waitFor()
      const test = await received(receiver, notified('notification.test'), 'the notification.test')
      assert(signedWith(secret, test), 'the notification.test is not signed with the channel’s secret (Standard Webhooks)')
      // Start the in-app list from nothing unread, so the badge that comes next is the dead letter's.
      await notificationsLink(page).click()
      const markAll = page.getByRole('button', { name: 'Mark all read' })
      await page.getByText(/^(Nothing unread|\d+ unread)\.$/).waitFor()
      if (await markAll.isEnabled()) await markAll.click()
      await page.getByText('Nothing unread.').waitFor()
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Notifications', exact: true }).waitFor()
      return secret
    })

    const [deadSubscription, deadDelivery] = await step('make the receiver fail and let a max_attempts=1 subscription kill a delivery', async () => {
      receiver.state.status = 500
      const subscriptionId = await createSubscription(page, { name: `e2e dead ${RUN}`, targetUrl: `${receiver.url}/dead`, sourceName, eventTypes: 'order.failed', maxAttempts: 1 })
      await nav(page, 'Live log')
      await liveConnected(page)
      await page.evaluate(() => (window.__e2eNoReload = true))
      await ingest(ingestUrl, { type: 'order.failed', id: 43 })
      const hit = await received(receiver, (r) => r.path === '/dead', 'the order.failed delivery')
      const deliveryId = hit.headers['webhook-id']
      const line = liveLine(page, deliveryId, 'dead')
      await line.waitFor()
      assert((await line.textContent()).includes('HTTP 500'), 'the dead line lacks HTTP 500')
      await shot(page, 'live-dead')
      return [subscriptionId, deliveryId]
    })

    await step('see the delivery.dead notification: the unread badge (live), the in-app list, and the channel', async () => {
      // Still on the live log: the badge comes over the socket, without a reload.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Notifications \d+ unread$/ }).waitFor()
      assert(await page.evaluate(() => window.__e2eNoReload === true), 'the page reloaded')
      await notificationsLink(page).click()
      const item = page
        .getByRole('list', { name: 'Notifications' })
        .getByRole('listitem')
        .filter({ hasText: 'delivery.dead' })
        .filter({ has: page.getByRole('link', { name: `e2e dead ${RUN}`, exact: true }) })
      await item.first().waitFor()
      assert((await item.first().textContent()).includes('ran out of attempts'), 'the notification does not say the delivery ran out of attempts')
      await shot(page, 'notifications')
      const hook = await received(receiver, (r) => notified('delivery.dead')(r) && jsonOf(r)?.subscription?.id === deadSubscription, 'the delivery.dead notification at the channel')
      assert(signedWith(notifySecret, hook), 'the delivery.dead notification is not signed with the channel’s secret')
      await page.getByRole('button', { name: 'Mark all read' }).click()
      await page.getByText('Nothing unread.').waitFor()
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Notifications', exact: true }).waitFor()
    })

    await step('see the dead letter in Dead letters and replay it once the receiver answers 200', async () => {
      await nav(page, 'Dead letters')
      const row = page.getByRole('list', { name: 'Dead letters' }).getByRole('listitem').filter({ hasText: deadDelivery })
      await row.waitFor()
      await shot(page, 'dead-letters')
      receiver.state.status = 200
      await row.getByRole('button', { name: 'Replay' }).click()
      await received(receiver, (r) => r.path === '/dead' && r.answered === 200, 'the replayed delivery')
      await row.waitFor({ state: 'detached' })
    })

    await step('see the replayed delivery succeed, its attempts kept', async () => {
      await page.goto(`/deliveries/${deadDelivery}`)
      const timeline = page.getByRole('list', { name: 'Attempt timeline' })
      await timeline.getByText('Attempt 2').waitFor()
      const text = await timeline.textContent()
      assert(text.includes('HTTP 500') && text.includes('HTTP 200'), `the timeline lacks the failed and the good attempt: ${text}`)
      assert(!text.includes('http_status'), `the timeline shows a raw error kind: ${text}`)
      const replayed = receiver.state.requests.filter((r) => r.headers['webhook-id'] === deadDelivery)
      assert(replayed.length === 2 && replayed[1].headers['x-warren-attempt'] === '2', 'the replay did not reuse the delivery id with attempt 2')
      await shot(page, 'delivery-replayed')
    })

    await step('the dashboard, subscriptions and source pages render', async () => {
      // The dashboard reads every subscription's stats and backlog in one call.
      const asked = []
      const listen = (request) => asked.push(new URL(request.url()).pathname)
      page.on('request', listen)
      await nav(page, 'Dashboard')
      await page.getByRole('heading', { name: 'Deliveries per minute' }).waitFor()
      await page.getByRole('heading', { name: 'Backlog' }).waitFor()
      await page.locator('[data-backlog=pending]').filter({ hasNotText: '…' }).waitFor()
      page.off('request', listen)
      assert(asked.includes('/api/v1/stats'), `the dashboard never asked for /api/v1/stats: ${asked.join(' ')}`)
      const perSubscription = asked.filter((p) => /^\/api\/v1\/(subscriptions\/[^/]+\/(stats|deliveries)|dead-letters)$/.test(p))
      assert(perSubscription.length === 0, `the dashboard asked per subscription: ${perSubscription.join(' ')}`)
      await chartsReadable(page)
      await shot(page, 'dashboard')
      await nav(page, 'Subscriptions')
      await page.getByRole('link', { name: `e2e ok ${RUN}` }).waitFor()
      await shot(page, 'subscriptions')
      await nav(page, 'Sources')
      await page.getByRole('link', { name: sourceName }).click()
      await page.getByRole('link', { name: /order\.(paid|failed)/ }).first().waitFor()
      await shot(page, 'source')
    })

    // This run's account was the first on a fresh Warren (scripts/e2e): it is the operator.
    await operatorSteps({ browser, page, operatorEmail: email, pageErrors })

    await step('a long target URL wraps between its parts, never inside a word, on a desktop and a phone', async () => {
      // A subscription that takes no event this run sends: only its page is looked at.
      const targetUrl = `${receiver.url}/layout/webhooks/orders-and-invoices/2025/incoming?team=payments&region=eu-west-1&verify=strict`
      await createSubscription(page, { name: `e2e layout ${RUN}`, targetUrl, sourceName, eventTypes: 'layout.never' })
      const overview = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Overview' }) })
      const url = overview.locator('[data-url]')
      assert((await url.textContent()) === targetUrl, `the target URL is not shown whole: ${await url.textContent()}`)
      for (const width of [1280, 375]) {
        await page.setViewportSize({ width, height: 900 })
        const cut = await wordsCutAcrossLines(overview.locator('dl'))
        assert(cut.length === 0, `at ${width} px the overview cuts ${cut.join(', ')} across lines`)
      }
      const lines = await url.evaluate((el) => {
        const range = document.createRange()
        range.selectNodeContents(el)
        return new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top))).size
      })
      assert(lines > 1, `at 375 px the long URL should wrap, it takes ${lines} line`)
      await shot(page, 'subscription-long-url-phone')
      await page.setViewportSize({ width: 1280, height: 900 })
    })

    await step('every page fits a 375 px phone', async () => {
      await page.setViewportSize({ width: 375, height: 812 })
      const pages = [
        ['dashboard', '/', 'Dashboard'],
        ['sources', '/sources', 'Sources'],
        ['subscription', `/subscriptions/${okSubscription}`, `e2e ok ${RUN}`],
        ['live', '/live', 'Live log'],
        ['events', '/events', 'Events'],
        ['delivery', `/deliveries/${deadDelivery}`, 'Delivery'],
        ['dead-letters', '/dead-letters', 'Dead letters'],
        ['notifications', '/notifications', 'Notifications'],
        ['notification-settings', '/notifications/settings', 'Notification settings'],
        ['admin-users', '/admin/users', 'Users'],
        ['admin-invites', '/admin/invites', 'Invites'],
        ['admin-circuits', '/admin/circuits', 'Open circuits'],
        ['admin-queues', '/admin/queues', 'Queues'],
      ]
      for (const [name, path, heading] of pages) {
        await page.goto(path)
        await page.getByRole('heading', { name: heading, exact: true }).waitFor()
        await page.waitForLoadState('networkidle').catch(() => {})
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
        assert(overflow <= 1, `${name} is ${overflow} px wider than a 375 px screen`)
        await shot(page, `${name}-phone`)
      }
      await page.setViewportSize({ width: 1280, height: 900 })
    })

    await step('a write with the session cookie from another origin is refused (403)', async () => {
      const { value } = await sessionCookie(context)
      const forged = await fetch(`${BASE}/api/v1/auth/logout`, {
        method: 'POST',
        headers: { cookie: `warren_session=${value}`, origin: 'https://evil.example', 'content-type': 'text/plain' },
      })
      assert(forged.status === 403, `a forged cookie write answered ${forged.status}`)
      const me = await fetch(`${BASE}/api/v1/me`, { headers: { cookie: `warren_session=${value}` } })
      assert(me.status === 200, `the session did not survive the forged logout (${me.status})`)
    })

    await step('log out (the session ends on the server), and log back in through the form', async () => {
      const { value } = await sessionCookie(context)
      await page.getByRole('button', { name: 'Log out' }).click()
      await page.getByRole('heading', { name: 'Log in to Warren' }).waitFor()
      await shot(page, 'login')
      const after = await fetch(`${BASE}/api/v1/me`, { headers: { cookie: `warren_session=${value}` } })
      assert(after.status === 401, `the logged-out session still answers ${after.status}`)
      assert(!(await context.cookies(BASE)).some((c) => c.name === 'warren_session' && c.value), 'the session cookie was not cleared')
      await page.goto('/dead-letters')
      await page.getByRole('heading', { name: 'Log in to Warren' }).waitFor()
      await page.getByLabel('Email').fill(email)
      await page.getByLabel('Password').fill(password)
      await page.getByRole('button', { name: 'Log in' }).click()
      await page.getByRole('heading', { name: 'Dead letters' }).waitFor()
    })

    assert(pageErrors.length === 0, `the page threw: ${pageErrors.join(' | ')}`)
    console.log(`\ne2e passed against ${BASE}; screenshots in ${SHOTS}`)
  } catch (error) {
    const pages = browser.contexts().flatMap((c) => c.pages())
    if (pages[0]) await pages[0].screenshot({ path: `${SHOTS}failure.png`, fullPage: true }).catch(() => {})
    if (pageErrors.length) console.error(`page errors: ${pageErrors.join(' | ')}`)
    throw error
  } finally {
    await browser.close()
    receiver.server.close()
  }
}

main().catch((error) => {
  console.log('FAILED')
  console.error(error.stack ?? error)
  process.exit(1)
})
