import { useNavigate } from 'react-router-dom'
import { useCreateSubscription } from '../../api'
import { Card, PageHeader } from '../../components/ui'
import { emptyForm } from './formModel'
import { SubscriptionForm } from './SubscriptionForm'

export function NewSubscriptionPage() {
  const create = useCreateSubscription()
  const navigate = useNavigate()
  return (
    <>
      <PageHeader title="New subscription" />
      <Card>
        <SubscriptionForm
          initial={emptyForm}
          creating
          submitLabel="Create subscription"
          pending={create.isPending}
          error={create.error}
          onSubmit={(input) =>
            create.mutate(input, {
              onSuccess: (sub) => navigate(`/subscriptions/${sub.id}`, { state: { created: true } }),
            })
          }
        />
      </Card>
    </>
  )
}
