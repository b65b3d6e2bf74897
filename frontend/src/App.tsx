// The routes. Every page has its own URL, so a reload or a shared link lands on it.
import { lazy, Suspense, type ReactNode } from 'react'
import { Navigate, Route, Routes, useLocation } from 'react-router-dom'
import { useSession } from './api'
import { Layout } from './components/Layout'
import { Loading } from './components/ui'
import { AdminLayout } from './pages/admin/AdminLayout'
import { CircuitsPage } from './pages/admin/CircuitsPage'
import { InvitesPage } from './pages/admin/InvitesPage'
import { UsersPage } from './pages/admin/UsersPage'
import { LoginPage } from './pages/auth/LoginPage'
import { SignupPage } from './pages/auth/SignupPage'
import { DeadLettersPage } from './pages/dead-letters/DeadLettersPage'
import { DeliveryPage } from './pages/deliveries/DeliveryPage'
import { EventDetailPage } from './pages/events/EventDetailPage'
import { EventsPage } from './pages/events/EventsPage'
import { LiveLogPage } from './pages/live/LiveLogPage'
import { NotFoundPage } from './pages/not-found/NotFoundPage'
import { NotificationSettingsPage } from './pages/notifications/NotificationSettingsPage'
import { NotificationsPage } from './pages/notifications/NotificationsPage'
import { SourceDetailPage } from './pages/sources/SourceDetailPage'
import { SourcesPage } from './pages/sources/SourcesPage'
import { NewSubscriptionPage } from './pages/subscriptions/NewSubscriptionPage'
import { SubscriptionDetailPage } from './pages/subscriptions/SubscriptionDetailPage'
import { SubscriptionsPage } from './pages/subscriptions/SubscriptionsPage'

// The dashboard carries the chart library; it loads on its own so other pages start faster.
const DashboardPage = lazy(() => import('./pages/dashboard/DashboardPage').then((m) => ({ default: m.DashboardPage })))
// So does the operators' queue page (its backlog chart).
const QueuesPage = lazy(() => import('./pages/admin/QueuesPage').then((m) => ({ default: m.QueuesPage })))

/** Signed-out people go to the login page, and come back here after. */
function RequireAuth({ children }: { children: ReactNode }) {
  const session = useSession()
  const location = useLocation()
  if (!session) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />
  return children
}

/** Signed-in people have no business on the login and signup pages. */
function GuestOnly({ children }: { children: ReactNode }) {
  const session = useSession()
  const location = useLocation()
  if (session) {
    const from = (location.state as { from?: string } | null)?.from
    return <Navigate to={from && from !== '/login' ? from : '/'} replace />
  }
  return children
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<GuestOnly><LoginPage /></GuestOnly>} />
      <Route path="/signup" element={<GuestOnly><SignupPage /></GuestOnly>} />
      <Route element={<RequireAuth><Layout /></RequireAuth>}>
        <Route index element={<Suspense fallback={<Loading />}><DashboardPage /></Suspense>} />
        <Route path="sources" element={<SourcesPage />} />
        <Route path="sources/:id" element={<SourceDetailPage />} />
        <Route path="subscriptions" element={<SubscriptionsPage />} />
        <Route path="subscriptions/new" element={<NewSubscriptionPage />} />
        <Route path="subscriptions/:id" element={<SubscriptionDetailPage />} />
        <Route path="live" element={<LiveLogPage />} />
        <Route path="events" element={<EventsPage />} />
        <Route path="events/:id" element={<EventDetailPage />} />
        <Route path="deliveries/:id" element={<DeliveryPage />} />
        <Route path="dead-letters" element={<DeadLettersPage />} />
        <Route path="notifications" element={<NotificationsPage />} />
        <Route path="notifications/settings" element={<NotificationSettingsPage />} />
        <Route path="admin" element={<AdminLayout />}>
          <Route index element={<Navigate to="/admin/users" replace />} />
          <Route path="users" element={<UsersPage />} />
          <Route path="invites" element={<InvitesPage />} />
          <Route path="circuits" element={<CircuitsPage />} />
          <Route path="queues" element={<Suspense fallback={<Loading />}><QueuesPage /></Suspense>} />
        </Route>
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  )
}
