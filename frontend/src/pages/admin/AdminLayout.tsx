// The Admin section: what only the instance's operator sees (users, invites, every tenant's
// open circuits, the broker's queues). Anyone else who opens an /admin URL is told so, and
// none of the operators' routes is called for them (the API would answer 403 anyway).
import { NavLink, Outlet } from 'react-router-dom'
import { useMe } from '../../api'
import { EmptyState, ErrorMessage, Loading, PageHeader, TextLink, cx } from '../../components/ui'

const TABS = [
  { to: '/admin/users', label: 'Users' },
  { to: '/admin/invites', label: 'Invites' },
  { to: '/admin/circuits', label: 'Open circuits' },
  { to: '/admin/queues', label: 'Queues' },
]

export function AdminLayout() {
  const me = useMe()
  if (me.isPending) return <Loading label="Checking who you are…" />
  if (me.isError) return <ErrorMessage error={me.error} title="Could not check who you are" />
  if (me.data?.role !== 'operator') {
    return (
      <EmptyState title="Admin is for the operator of this Warren.">
        <TextLink to="/">Go to the dashboard</TextLink>
      </EmptyState>
    )
  }
  return (
    <>
      <PageHeader title="Admin" />
      <nav aria-label="Admin" className="mb-4 border-b border-slate-200">
        <ul className="flex flex-wrap gap-x-1">
          {TABS.map((tab) => (
            <li key={tab.to}>
              <NavLink
                to={tab.to}
                className={({ isActive }) =>
                  cx('inline-block border-b-2 px-3 py-2 text-sm', isActive ? 'border-teal-700 font-medium text-teal-800' : 'border-transparent text-slate-600 hover:text-slate-900')
                }
              >
                {tab.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Outlet />
    </>
  )
}
