// Formatting for people: times, durations, percentages.

/** "2025-01-31 14:05:09" in the browser's time zone; "—" for none. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

/** "14:05:09" (time of day only). */
export function formatClock(iso: string | null | undefined): string {
  return formatTime(iso).split(' ')[1] ?? '—'
}

/** "in 30 s", "5 min ago". */
export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—'
  const t = new Date(iso).getTime()
  if (Number.isNaN(t)) return iso
  const diff = Math.round((t - now) / 1000)
  const abs = Math.abs(diff)
  const text =
    abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`
  return diff >= 0 ? `in ${text}` : `${text} ago`
}

/** "93 ms", "1.5 s", "2 s", "12 s"; "—" for none. Short enough for a chart's axis. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1).replace(/\.0$/, '')} s`
}

export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return '—'
  // One decimal at most, none when it would be .0: 55%, 66.7%, 99.9%.
  // Never round a near miss up to a perfect 100%.
  const rounded = Math.round(fraction * 1000) / 10
  return `${rounded === 100 && fraction < 1 ? 99.9 : rounded}%`
}

/** A `datetime-local` input's value as RFC 3339 UTC; undefined when empty or invalid. */
export function localInputToIso(value: string | null | undefined): string | undefined {
  if (!value) return undefined
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
}

/**
 * A URL cut where a line may wrap without breaking a word: after `//` and each `/`, before
 * `.`, `?`, `#` and `&`, and after `=`. Joined again, the pieces are the URL.
 */
export function urlSegments(url: string): string[] {
  return url.split(/(?<=\/)(?!\/)|(?=[.?#&])|(?<==)/).filter(Boolean)
}
