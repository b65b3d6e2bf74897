// Every user of the instance with what they own and how it is going; an operator disables a
// user (sessions, API keys, live sockets and ingest stop at once, nothing is deleted) and
// enables them again.
import { useAdminUsers, useDisableUser, useEnableUser, useMe, type AdminUser } from '../../api'
import { Badge, Button, Card, EmptyState, ErrorMessage, Loading } from '../../components/ui'
import { formatTime } from '../../lib/format'

const COUNTS: [keyof AdminUser, string][] = [
  ['sources', 'Sources'],
  ['subscriptions', 'Subscriptions'],
  ['events_24h', 'Events (24h)'],
  ['dead_letters', 'Dead letters'],
  ['open_circuits', 'Open circuits'],
]

export function UsersPage() {
  const users = useAdminUsers()
  const me = useMe().data
  const disable = useDisableUser()
  const enable = useEnableUser()
  const busy = disable.isPending || enable.isPending

  const onDisable = (u: AdminUser) => {
    const question = `Disable ${u.email}? Their sessions, API keys and live connections stop at once, and ingest to their sources answers 404. Nothing is deleted; Enable brings them back.`
    if (window.confirm(question)) disable.mutate(u.id)
  }
  const onEnable = (u: AdminUser) => {
    if (window.confirm(`Enable ${u.email}? They can log in again and their sources accept events.`)) enable.mutate(u.id)
  }

  return (
    <Card title="Users">
      <ErrorMessage error={disable.error} title="Could not disable" />
      <ErrorMessage error={enable.error} title="Could not enable" />
      {users.isPending ? (
        <Loading label="Loading users…" />
      ) : users.isError ? (
        <ErrorMessage error={users.error} title="Could not load users" />
      ) : users.data.length === 0 ? (
        <EmptyState title="No users yet." />
      ) : (
        // Relative: the header's screen-reader-only text is positioned absolutely, and would
        // otherwise widen the page on a phone instead of scrolling with the table.
        <div className="relative overflow-x-auto">
          <table className="w-full text-left text-sm" aria-label="Users">
            <thead>
              <tr className="border-b border-slate-200 text-xs uppercase tracking-wide text-slate-500">
                <th className="py-1.5 pr-3 font-medium">Email</th>
                <th className="py-1.5 pr-3 font-medium">Status</th>
                <th className="py-1.5 pr-3 font-medium">Created</th>
                {COUNTS.map(([field, label]) => (
                  <th key={field} className="py-1.5 pr-3 text-right font-medium">
                    {label}
                  </th>
                ))}
                <th className="py-1.5 font-medium">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id} className="border-b border-slate-100" data-user-id={u.id}>
                  <td className="py-1.5 pr-3">
                    <span className="break-all">{u.email}</span>
                    {u.role === 'operator' && <Badge value="operator" className="ml-2" />}
                    {u.id === me?.id && <span className="ml-2 text-xs text-slate-500">(you)</span>}
                  </td>
                  <td className="py-1.5 pr-3">{u.disabled ? <Badge value="disabled" /> : <Badge value="active" />}</td>
                  <td className="py-1.5 pr-3 whitespace-nowrap text-slate-600">{formatTime(u.created_at)}</td>
                  {COUNTS.map(([field]) => (
                    <td key={field} className="py-1.5 pr-3 text-right tabular-nums">
                      {String(u[field] ?? '—')}
                    </td>
                  ))}
                  <td className="py-1.5 text-right">
                    {u.id === me?.id ? null : u.disabled ? (
                      <Button onClick={() => onEnable(u)} disabled={busy}>
                        Enable
                      </Button>
                    ) : (
                      <Button variant="danger" onClick={() => onDisable(u)} disabled={busy}>
                        Disable
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  )
}
