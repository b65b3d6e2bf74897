// What the end-to-end scripts share: where Warren and Chromium are, how long to wait, and the
// step, screenshot and assertion helpers.
import { fileURLToPath } from 'node:url'

export const BASE = (process.env.WARREN_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '')
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SHOTS = fileURLToPath(new URL('../../target/screenshots/', import.meta.url))
export const WAIT = Number(process.env.E2E_TIMEOUT_MS ?? 20_000)
/** Makes this run's names (emails, sources) unique on a Warren that has seen other runs. */
export const RUN = Date.now().toString(36)
export const STARTED = Date.now()

let stepNo = 0
/** Runs one named step, printing its number, name and how long it took. */
export async function step(name, fn) {
  stepNo += 1
  const started = Date.now()
  process.stdout.write(`${String(stepNo).padStart(2)}. ${name} … `)
  const result = await fn()
  console.log(`ok (${Date.now() - started} ms)`)
  return result
}

export async function shot(page, name) {
  await page.waitForTimeout(150) // let charts and fonts settle
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true })
}

export function assert(cond, message) {
  if (!cond) throw new Error(message)
}

/** Clicks a link of the main navigation by its exact name. */
export async function nav(page, name) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click()
}

/** Waits until `fn()` is true. */
export async function until(fn, what) {
  const deadline = Date.now() + WAIT
  while (Date.now() < deadline) {
    if (await fn()) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`timed out waiting for ${what}`)
}
