// A list of events (type, source, time), each a link to its detail.
import { Link } from 'react-router-dom'
import type { EventSummary, Source } from '../api'
import { formatTime } from '../lib/format'

export function EventList({ events, sources }: { events: EventSummary[]; sources?: Source[] }) {
  const sourceName = (id: string | null) =>
    id ? (sources?.find((s) => s.id === id)?.name ?? 'deleted source') : 'publish API'
  return (
    <ul className="divide-y divide-slate-100">
      {events.map((event) => (
        <li key={event.id} className="py-2">
          <Link to={`/events/${event.id}`} className="group grid grid-cols-1 gap-1 sm:grid-cols-[minmax(0,2fr)_minmax(0,1fr)_auto] sm:items-center sm:gap-4">
            <span className="min-w-0">
              <span className="block truncate font-medium text-teal-800 group-hover:underline">{event.event_type}</span>
              <span className="block truncate font-mono text-xs text-slate-500">{event.id}</span>
            </span>
            <span className="truncate text-sm text-slate-600">
              {sourceName(event.source_id)}
              {typeof event.deliveries === 'number' && ` · ${event.deliveries} deliver${event.deliveries === 1 ? 'y' : 'ies'}`}
            </span>
            <time className="text-sm text-slate-600" dateTime={event.received_at}>
              {formatTime(event.received_at)}
            </time>
          </Link>
        </li>
      ))}
    </ul>
  )
}
