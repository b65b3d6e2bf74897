// Dead letters: deliveries that ran out of attempts. Replay or discard one, or replay all
// of a subscription's in a window.
import { useState, type FormEvent } from 'react'
import { Link, useSearchParams } from 'react-router-dom'
import {
  useBulkReplayDeadLetters,
  useDeadLetters,
  useDiscardDeadLetter,
  useReplayDeadLetter,
  useSubscriptions,
  type DeadLetter,
  type DeadLetterFilters,
  type Subscription,
} from '../../api'
import { Button, Card, EmptyState, ErrorMessage, LoadMore, Loading, Notice, PageHeader, SelectField, TextField } from '../../components/ui'
import { failureReason } from '../../lib/attemptResult'
import { formatTime, localInputToIso } from '../../lib/format'

const FIELDS = ['subscription_id', 'from', 'to'] as const
type Draft = Record<(typeof FIELDS)[number], string>

export function DeadLettersPage() {
  const [params, setParams] = useSearchParams()
  const applied: Draft = { subscription_id: '', from: '', to: '' }
  for (const f of FIELDS) applied[f] = params.get(f) ?? ''
  const [draft, setDraft] = useState<Draft>(applied)
  const subscriptions = useSubscriptions()
  const filters: DeadLetterFilters = {
    subscription_id: applied.subscription_id || undefined,
    from: localInputToIso(applied.from),
    to: localInputToIso(applied.to),
  }
  const letters = useDeadLetters(filters)
  const rows = letters.data?.pages.flatMap((p) => p.data) ?? []
  const bulk = useBulkReplayDeadLetters()
  const filtered = FIELDS.some((f) => applied[f])

  const apply = (e: FormEvent) => {
    e.preventDefault()
    const next = new URLSearchParams()
    for (const f of FIELDS) if (draft[f]) next.set(f, draft[f])
    setParams(next)
    bulk.reset()
  }
  const set = (f: keyof Draft) => (e: { target: { value: string } }) => setDraft((d) => ({ ...d, [f]: e.target.value }))

  const replayAll = () => {
    const scope = filtered ? 'every dead letter matching these filters' : 'every dead letter'
    if (!window.confirm(`Replay ${scope}?`)) return
    const body = Object.fromEntries(Object.entries(filters).filter(([, v]) => v)) as DeadLetterFilters
    bulk.mutate(body)
  }

  return (
    <>
      <PageHeader title="Dead letters" />
      <Card className="mb-4">
        <form onSubmit={apply} className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-[1.3fr_1fr_1fr_auto] lg:items-end" role="search">
          <SelectField
            label="Subscription"
            value={draft.subscription_id}
            onChange={set('subscription_id')}
            options={[{ value: '', label: 'All subscriptions' }, ...(subscriptions.data ?? []).map((s) => ({ value: s.id, label: s.name }))]}
          />
          <TextField label="From" type="datetime-local" value={draft.from} onChange={set('from')} />
          <TextField label="To" type="datetime-local" value={draft.to} onChange={set('to')} />
          <div className="flex gap-2">
            <Button type="submit" variant="primary">
              Filter
            </Button>
          </div>
        </form>
        <div className="mt-4 flex flex-col gap-2 border-t border-slate-100 pt-3 sm:flex-row sm:items-center">
          <Button onClick={replayAll} disabled={bulk.isPending || rows.length === 0}>
            {filtered ? 'Replay all matching' : 'Replay all'}
          </Button>
          <span className="text-xs text-slate-500">Puts every dead letter in this subscription and window back to pending.</span>
        </div>
        <div className="mt-2">
          <ErrorMessage error={bulk.error} title="Could not replay" />
          {bulk.data && (
            <Notice>
              Replayed {bulk.data.replayed} dead letter{bulk.data.replayed === 1 ? '' : 's'}.
            </Notice>
          )}
        </div>
      </Card>
      <Card>
        {letters.isPending ? (
          <Loading label="Loading dead letters…" />
        ) : letters.isError && rows.length === 0 ? (
          <ErrorMessage error={letters.error} title="Could not load dead letters" />
        ) : rows.length === 0 ? (
          <EmptyState title={filtered ? 'No dead letters match these filters.' : 'No dead letters.'}>
            Deliveries land here when they run out of attempts.
          </EmptyState>
        ) : (
          <>
            <ul aria-label="Dead letters" className="divide-y divide-slate-100">
              {rows.map((letter) => (
                <DeadLetterRow key={letter.id} letter={letter} subscriptions={subscriptions.data} />
              ))}
            </ul>
            <ErrorMessage error={letters.isError ? letters.error : null} title="Could not load more" />
            <LoadMore hasMore={letters.hasNextPage} loading={letters.isFetchingNextPage} onClick={() => letters.fetchNextPage()} />
          </>
        )}
      </Card>
    </>
  )
}

function DeadLetterRow({ letter, subscriptions }: { letter: DeadLetter; subscriptions?: Subscription[] }) {
  const replay = useReplayDeadLetter()
  const discard = useDiscardDeadLetter()
  const subscription = subscriptions?.find((s) => s.id === letter.subscription_id)
  const reason = failureReason(letter.last_status_code, letter.last_error_kind)
  const onDiscard = () => {
    if (window.confirm('Discard this dead letter? It cannot be replayed after.')) discard.mutate(letter.id)
  }
  return (
    <li className="flex flex-col gap-2 py-3 lg:flex-row lg:items-center lg:justify-between" data-delivery-id={letter.id}>
      <div className="min-w-0 text-sm">
        <Link to={`/deliveries/${letter.id}`} className="break-all font-mono text-xs text-teal-800 hover:underline">
          {letter.id}
        </Link>
        <p className="text-slate-700">
          <Link to={`/events/${letter.event_id}`} className="font-medium text-teal-800 hover:underline">
            {letter.event_type ?? 'event'}
          </Link>
          {' → '}
          {subscription?.name ?? 'subscription'}
        </p>
        <p className="text-xs text-slate-500">
          {letter.attempt_count} attempt{letter.attempt_count === 1 ? '' : 's'}
          {letter.last_status_code ? ` · last HTTP ${letter.last_status_code}` : ''}
          {reason ? ` · ${reason}` : ''} · dead since {formatTime(letter.dead_at ?? letter.updated_at)}
        </p>
        {(replay.error || discard.error) && <ErrorMessage error={replay.error ?? discard.error} />}
      </div>
      <div className="flex gap-2">
        <Button variant="primary" onClick={() => replay.mutate(letter.id)} disabled={replay.isPending || discard.isPending}>
          Replay
        </Button>
        <Button variant="danger" onClick={onDiscard} disabled={replay.isPending || discard.isPending}>
          Discard
        </Button>
      </div>
    </li>
  )
}
