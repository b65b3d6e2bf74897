// An ordered (FIFO) subscription's line: where it stands, the delivery at its head and why
// that one is stuck, how many wait behind it, and Replay / Discard when it paused on a dead head.
import type { ReactNode } from 'react'
import { Link } from 'react-router-dom'
import { useDiscardLineHead, useReplayLineHead, useSubscriptionLine, type DeliverySummary, type SubscriptionLine } from '../../api'
import { Badge, Button, Card, ErrorMessage, Facts, Loading, Notice, TextLink, cx } from '../../components/ui'
import { describeAnswer } from '../../lib/attemptResult'
import { formatRelative, formatTime } from '../../lib/format'

const STATES: Record<string, { label: string; explain: string; tone: string }> = {
  flowing: {
    label: 'Flowing',
    explain: 'The head is being delivered; the next one goes as soon as it succeeds.',
    tone: 'bg-emerald-100 text-emerald-800',
  },
  retrying: {
    label: 'Retrying the head',
    explain: 'The head failed and waits for its next attempt. Everything behind it waits too.',
    tone: 'bg-amber-100 text-amber-800',
  },
  paused: {
    label: 'Paused on a dead delivery',
    explain: 'The head ran out of attempts and the line stopped. Replay it to try it again at the front, or discard it to let the next one go.',
    tone: 'bg-red-100 text-red-800',
  },
  disabled: {
    label: 'Subscription disabled',
    explain: 'Nothing is attempted until the subscription is re-enabled.',
    tone: 'bg-slate-200 text-slate-700',
  },
  empty: {
    label: 'Empty',
    explain: 'No deliveries are waiting.',
    tone: 'bg-slate-100 text-slate-700',
  },
}

export function FifoLineCard({ subscriptionId }: { subscriptionId: string }) {
  const line = useSubscriptionLine(subscriptionId)
  return (
    <Card title="FIFO line" actions={<TextLink to={`/dead-letters?subscription_id=${subscriptionId}`}>Dead letters</TextLink>}>
      {line.isPending ? (
        <Loading label="Loading the line…" />
      ) : line.isError && !line.data ? (
        <ErrorMessage error={line.error} title="Could not load the FIFO line" />
      ) : (
        <>
          {/* A failed refresh keeps the last answer on screen, under the error. */}
          {line.isError && (
            <div className="mb-3">
              <ErrorMessage error={line.error} title="Could not refresh the FIFO line" />
            </div>
          )}
          <LineDetail subscriptionId={subscriptionId} line={line.data} />
        </>
      )}
    </Card>
  )
}

function LineDetail({ subscriptionId, line }: { subscriptionId: string; line: SubscriptionLine }) {
  const state = STATES[line.state] ?? { label: line.state, explain: '', tone: 'bg-slate-100 text-slate-700' }
  // Kept here, not in the buttons' row, so the outcome stays on screen once the line moves.
  const replay = useReplayLineHead(subscriptionId)
  const discard = useDiscardLineHead(subscriptionId)
  const paused = line.state === 'paused'
  return (
    <div className="flex flex-col gap-3">
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <span className={cx('inline-block rounded-full px-2 py-0.5 text-sm font-medium', state.tone)}>{state.label}</span>
        <span className="text-sm font-medium text-slate-800">{line.waiting} waiting behind the head</span>
        <span className="text-xs text-slate-500">A dead head {line.on_dead === 'pause' ? 'pauses the line' : 'is skipped'}.</span>
      </div>
      {state.explain && <p className="text-sm text-slate-600">{state.explain}</p>}
      {line.head ? <HeadFacts line={line} head={line.head} /> : <p className="text-sm text-slate-500">No delivery at the head.</p>}
      {paused && line.head && <ResumeActions headId={line.head.id} replay={replay} discard={discard} />}
      {!paused && replay.isSuccess && <Notice>Dead head replayed: it is back at the front of the line.</Notice>}
      {!paused && discard.isSuccess && <Notice>Dead head discarded: the next delivery is the head.</Notice>}
    </div>
  )
}

function HeadFacts({ line, head }: { line: SubscriptionLine; head: DeliverySummary }) {
  const items: [string, ReactNode][] = [
    [
      'Head delivery',
      <Link to={`/deliveries/${head.id}`} className="break-all font-mono text-xs text-teal-800 hover:underline">
        {head.id}
      </Link>,
    ],
    ['Status', <Badge value={head.status} />],
    ['Attempts', String(head.attempt_count)],
    ['Last answer', describeAnswer(head.last_status_code, head.last_error_kind)],
  ]
  if (head.event_type) items.push(['Event type', head.event_type])
  if (line.state === 'retrying') {
    items.push(['Next attempt', head.next_attempt_at ? `${formatTime(head.next_attempt_at)} (${formatRelative(head.next_attempt_at)})` : '—'])
  }
  if (line.state === 'paused') {
    items.push(['Paused at', formatTime(line.paused_at)])
    if (head.dead_at) items.push(['Dead since', formatTime(head.dead_at)])
  }
  return (
    <div aria-label="Head of the line" role="group" className="rounded-md border border-slate-200 p-3">
      <Facts items={items} />
    </div>
  )
}

type HeadMutation = ReturnType<typeof useReplayLineHead>

function ResumeActions({ headId, replay, discard }: { headId: string; replay: HeadMutation; discard: HeadMutation }) {
  const busy = replay.isPending || discard.isPending
  const onReplay = () => {
    discard.reset()
    replay.mutate(headId)
  }
  const onDiscard = () => {
    if (!window.confirm('Discard the dead head? It cannot be replayed after, and the next delivery becomes the head.')) return
    replay.reset()
    discard.mutate(headId)
  }
  return (
    <div className="flex flex-col gap-2">
      <div className="flex flex-col gap-2 sm:flex-row sm:items-center">
        <div className="flex gap-2">
          <Button variant="primary" onClick={onReplay} disabled={busy}>
            Replay dead head
          </Button>
          <Button variant="danger" onClick={onDiscard} disabled={busy}>
            Discard dead head
          </Button>
        </div>
        <span className="text-xs text-slate-500">Either one restarts the line.</span>
      </div>
      <ErrorMessage error={replay.error} title="Could not replay" />
      <ErrorMessage error={discard.error} title="Could not discard" />
    </div>
  )
}
