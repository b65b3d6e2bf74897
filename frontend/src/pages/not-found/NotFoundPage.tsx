import { EmptyState, TextLink } from '../../components/ui'

export function NotFoundPage() {
  return (
    <EmptyState title="There is no page here.">
      <TextLink to="/">Go to the dashboard</TextLink>
    </EmptyState>
  )
}
