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

/**
 * The words (runs without spaces or hyphens, or the parts of a URL between its break points)
 * under an element that are cut across two lines though they would fit on one, as
 * `break-all` cuts them.
 */
export async function wordsCutAcrossLines(locator) {
  return locator.evaluate((root) => {
    const block = (el) => {
      while (el.parentElement && getComputedStyle(el).display === 'inline') el = el.parentElement
      return el
    }
    const cut = []
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT)
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const width = block(node.parentElement).getBoundingClientRect().width
      for (const match of node.data.matchAll(/[^\s-]+-?/g)) {
        const range = document.createRange()
        range.setStart(node, match.index)
        range.setEnd(node, match.index + match[0].length)
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)))
        if (lines.size > 1 && range.getBoundingClientRect().width < width) cut.push(match[0])
      }
    }
    return cut
  })
}

/**
 * Each chart's value-axis labels under `scope`: all of them, those that do not fit inside
 * its picture (cut at the left edge), and those wrapped onto two lines.
 */
export async function chartAxisLabels(scope) {
  // The chart's own picture, not its legend's little icons (also recharts-surface).
  return scope.locator('.recharts-wrapper > svg.recharts-surface').evaluateAll((svgs) =>
    svgs.map((svg) => {
      const box = svg.getBoundingClientRect()
      const ticks = [...svg.querySelectorAll('.recharts-yAxis-tick-labels .recharts-cartesian-axis-tick-value')]
      return {
        labels: ticks.map((t) => t.textContent),
        clipped: ticks.filter((t) => t.getBoundingClientRect().left < box.left - 0.5).map((t) => t.textContent),
        // Recharts wraps a label too wide for its axis onto two lines ("3500" over "ms").
        wrapped: ticks.filter((t) => t.querySelectorAll('tspan').length > 1).map((t) => [...t.querySelectorAll('tspan')].map((x) => x.textContent).join(' / ')),
      }
    }),
  )
}
