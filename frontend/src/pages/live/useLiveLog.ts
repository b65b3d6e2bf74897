// The live log's state: `delivery.attempt` and `delivery.held` events as they arrive (newest
// first), the filters, and pause. While paused nothing is appended; what was missed is counted.
import { useCallback, useMemo, useRef, useState } from 'react'
import { useWarrenSocket, type AttemptOutcome, type DeliveryAttemptMessage, type SocketState } from '../../api'

export type StatusFilter = '' | '2xx' | '3xx' | '4xx' | '5xx' | 'none'

/** An attempt's outcome, or `held`: a delivery kept, not attempted, while its subscription is stopped. */
export type LiveOutcome = AttemptOutcome | 'held'

export interface LiveFilters {
  subscription_id?: string
  status?: StatusFilter
  outcome?: LiveOutcome | ''
}

export interface LiveLine extends Omit<DeliveryAttemptMessage, 'outcome'> {
  outcome: LiveOutcome
  /** Unique per line: a delivery has one line per attempt (and one when it is held). */
  key: string
}

export interface LiveLog {
  lines: LiveLine[]
  /** Lines received since the last clear, before filtering. */
  total: number
  paused: boolean
  /** Attempts that arrived while paused and were not added. */
  missed: number
  pause: () => void
  resume: () => void
  clear: () => void
  connection: SocketState
}

export function matchesStatus(code: number | null, status: StatusFilter | undefined): boolean {
  if (!status) return true
  if (status === 'none') return code === null || code === undefined
  return code !== null && code !== undefined && String(code)[0] === status[0]
}

export function matchesFilters(line: Pick<LiveLine, 'subscription_id' | 'outcome' | 'status_code'>, filters: LiveFilters): boolean {
  if (filters.subscription_id && line.subscription_id !== filters.subscription_id) return false
  if (filters.outcome && line.outcome !== filters.outcome) return false
  return matchesStatus(line.status_code, filters.status)
}

export function useLiveLog(filters: LiveFilters, max = 500): LiveLog {
  const [all, setAll] = useState<LiveLine[]>([])
  const [paused, setPaused] = useState(false)
  const [missed, setMissed] = useState(0)
  const pausedRef = useRef(false)
  const eventTypes = useRef(new Map<string, string>())

  const add = useCallback(
    (line: LiveLine) => {
      if (pausedRef.current) {
        setMissed((n) => n + 1)
        return
      }
      setAll((lines) => (lines.some((l) => l.key === line.key) ? lines : [line, ...lines].slice(0, max)))
    },
    [max],
  )

  const connection = useWarrenSocket({
    'event.received': (m) => {
      eventTypes.current.set(m.event_id, m.event_type)
    },
    'delivery.attempt': (m) => {
      add({ ...m, event_type: m.event_type ?? eventTypes.current.get(m.event_id), key: `${m.delivery_id}:${m.attempt}:${m.at}` })
    },
    'delivery.held': (m) => {
      add({
        ...m,
        attempt: 0,
        status_code: null,
        duration_ms: 0,
        outcome: 'held',
        error_kind: null,
        next_attempt_at: null,
        key: `${m.delivery_id}:held:${m.at}`,
      })
    },
  })

  const pause = useCallback(() => {
    pausedRef.current = true
    setPaused(true)
  }, [])
  const resume = useCallback(() => {
    pausedRef.current = false
    setPaused(false)
    setMissed(0)
  }, [])
  const clear = useCallback(() => {
    setAll([])
    setMissed(0)
  }, [])

  const { subscription_id, status, outcome } = filters
  const lines = useMemo(() => all.filter((l) => matchesFilters(l, { subscription_id, status, outcome })), [all, subscription_id, status, outcome])

  return { lines, total: all.length, paused, missed, pause, resume, clear, connection }
}
