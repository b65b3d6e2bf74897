// The frame around every signed-in page: the navigation (with the count of unread
// notifications), who is signed in, Log out, and whether live updates are flowing.
import { NavLink, Outlet, useNavigate } from 'react-router-dom'
import { useIsOperator, useLiveCacheSync, useLogout, useMe, useUnreadNotifications } from '../api'
import { cx } from './ui'

interface NavItem {
  to: string
  label: string
  end?: boolean
  badge?: 'unread'
}

const NAV: NavItem[] = [
  { to: '/', label: 'Dashboard', end: true },
  { to: '/sources', label: 'Sources' },
  { to: '/subscriptions', label: 'Subscriptions' },
  { to: '/live', label: 'Live log' },
  { to: '/events', label: 'Events' },
  { to: '/dead-letters', label: 'Dead letters' },
  { to: '/notifications', label: 'Notifications', badge: 'unread' },
]

/** Only the operator's navigation has it (users, invites, open circuits, the broker's queues). */
const ADMIN: NavItem = { to: '/admin', label: 'Admin' }

export function Layout() {
  const me = useMe()
  const logout = useLogout()
  const navigate = useNavigate()
  const live = useLiveCacheSync()
  const unread = useUnreadNotifications().data ?? 0
  const nav = useIsOperator() ? [...NAV, ADMIN] : NAV

  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center justify-between gap-2 px-4 py-2">
          <NavLink to="/" className="flex items-center gap-2 font-semibold text-teal-800">
            <img src="/warren.svg" alt="" className="h-6 w-6" />
            Warren
          </NavLink>
          <div className="flex items-center gap-3 text-sm">
            <span
              className={cx('inline-flex items-center gap-1 text-xs', live.status === 'connected' ? 'text-emerald-700' : 'text-slate-500')}
              title={live.error ?? undefined}
            >
              <span aria-hidden className={cx('h-2 w-2 rounded-full', live.status === 'connected' ? 'bg-emerald-500' : 'bg-slate-400')} />
              {live.status === 'connected' ? 'Live' : 'Offline'}
            </span>
            <span className="hidden max-w-48 truncate text-slate-600 sm:inline" title={me.data?.email}>
              {me.data?.email}
            </span>
            <button
              type="button"
              className="rounded-md border border-slate-300 px-2.5 py-1 text-sm hover:bg-slate-100"
              onClick={() => logout.mutate(undefined, { onSettled: () => navigate('/login') })}
              disabled={logout.isPending}
            >
              Log out
            </button>
          </div>
        </div>
        <nav aria-label="Main" className="mx-auto max-w-7xl px-2">
          <ul className="flex flex-wrap gap-x-1 whitespace-nowrap">
            {nav.map((item) => (
              <li key={item.to}>
                <NavLink
                  to={item.to}
                  end={item.end}
                  aria-label={item.badge === 'unread' && unread > 0 ? `${item.label} ${unread} unread` : undefined}
                  className={({ isActive }) =>
                    cx(
                      'inline-block border-b-2 px-2.5 py-2 text-sm sm:px-3',
                      isActive ? 'border-teal-700 font-medium text-teal-800' : 'border-transparent text-slate-600 hover:text-slate-900',
                    )
                  }
                >
                  {item.label}
                  {item.badge === 'unread' && unread > 0 && <UnreadBadge count={unread} />}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main className="mx-auto max-w-7xl px-4 py-5">
        <Outlet />
      </main>
    </div>
  )
}

/** The eye sees a red 3; the link's own name says "Notifications 3 unread". */
function UnreadBadge({ count }: { count: number }) {
  return (
    <span aria-hidden className="ml-1 inline-block min-w-5 rounded-full bg-red-600 px-1.5 text-center text-xs font-semibold leading-5 text-white" data-unread-badge>
      {count > 99 ? '99+' : count}
    </span>
  )
}
