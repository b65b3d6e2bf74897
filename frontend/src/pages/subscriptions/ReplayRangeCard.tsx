// Replay a time range: one new delivery to this subscription for each event received in
// [From, To) that it matches — a backfill, or a recovery after an outage.
import { useState, type FormEvent } from 'react'
import { ApiError, useReplayTimeRange, type Subscription } from '../../api'
import { Button, Card, ErrorMessage, Notice, TextField } from '../../components/ui'
import { localInputToIso } from '../../lib/format'

type Errors = { from?: string; to?: string }

/** The form's own checks: a start, and an end (when given) after it. */
function check(from: string, to: string): Errors {
  const start = localInputToIso(from)
  const end = localInputToIso(to)
  if (!start) return { from: 'Say when the range starts.' }
  if (to && !end) return { to: 'Not a date and time.' }
  if (end && end <= start) return { to: 'Must be after From.' }
  return {}
}

export function ReplayRangeCard({ subscription: s }: { subscription: Subscription }) {
  const replay = useReplayTimeRange()
  const [from, setFrom] = useState('')
  const [to, setTo] = useState('')
  const [local, setLocal] = useState<Errors>({})
  const server = replay.error instanceof ApiError ? replay.error.fieldErrors() : {}
  const errors: Errors = { from: local.from ?? server.from, to: local.to ?? server.to }
  const unplaced = Object.entries(server).filter(([field]) => field !== 'from' && field !== 'to')
  const general = replay.error && !(replay.error instanceof ApiError && replay.error.errors.length > 0) ? replay.error : null

  const submit = (e: FormEvent) => {
    e.preventDefault()
    const found = check(from, to)
    setLocal(found)
    if (found.from || found.to) return
    replay.mutate({ subscription_id: s.id, from: localInputToIso(from)!, ...(to ? { to: localInputToIso(to) } : {}) })
  }

  return (
    <Card title="Replay a time range">
      <p className="mb-3 text-sm text-slate-600">
        Sends this subscription a new delivery for each event received in the range that it takes (its source, event types and filter), in the order they
        were received: a backfill, or a recovery after an outage.
        {!s.is_active && ' Resume the subscription first: Warren replays only to an active one.'}
      </p>
      <form onSubmit={submit} noValidate className="grid grid-cols-1 gap-3 sm:grid-cols-[1fr_1fr_auto] sm:items-start">
        <TextField
          label="From"
          type="datetime-local"
          value={from}
          onChange={(e) => {
            setFrom(e.target.value)
            setLocal({})
          }}
          error={errors.from}
          required
        />
        <TextField
          label="To"
          type="datetime-local"
          value={to}
          onChange={(e) => {
            setTo(e.target.value)
            setLocal({})
          }}
          error={errors.to}
          hint="Empty means now."
        />
        <Button type="submit" variant="primary" className="sm:mt-6" disabled={replay.isPending}>
          Replay
        </Button>
      </form>
      <div className="mt-2 flex flex-col gap-2">
        <ErrorMessage error={general} title="Could not replay" />
        {unplaced.length > 0 && (
          <div role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
            {unplaced.map(([field, message]) => (
              <p key={field}>
                {field}: {message}
              </p>
            ))}
          </div>
        )}
        {replay.data && !replay.isPending && (
          <Notice>
            Replayed {replay.data.replayed} event{replay.data.replayed === 1 ? '' : 's'}.
          </Notice>
        )}
      </div>
    </Card>
  )
}
