// Sign up: the first account on a new Warren becomes its operator; after that, signup is by
// invite unless the operator opened it. An invite link (`/signup?invite=TOKEN&email=…`) fills
// in the email and sends its token along; Warren's refusal (403: by invite only, closed, an
// expired or used invite) is shown as it says it, with what to do next.
import { useSearchParams } from 'react-router-dom'
import { useSignup, type ApiError } from '../../api'
import { readInvite } from '../../lib/invite'
import { AuthForm } from './AuthForm'

/** After a 403: without an invite, ask for one; with one, ask for a fresh one. */
function refusalHint(hasInvite: boolean) {
  return function Hint(error: ApiError) {
    if (error.status !== 403) return null
    return (
      <p className="text-sm text-slate-600" data-refusal-hint>
        {hasInvite
          ? 'Ask the operator of this Warren for a new invite link.'
          : 'Ask the operator of this Warren for an invite link, and open it to sign up.'}
      </p>
    )
  }
}

export function SignupPage() {
  const signup = useSignup()
  const [params] = useSearchParams()
  const invite = readInvite(params)
  return (
    <AuthForm
      title="Create your Warren account"
      submitLabel="Sign up"
      mutation={signup}
      passwordHint="At least 8 characters."
      autoCompletePassword="new-password"
      alternative={{ text: 'Already have an account?', to: '/login', label: 'Log in' }}
      initialEmail={invite?.email}
      extra={invite ? { invite: invite.token } : undefined}
      intro={invite ? 'You were invited to this Warren. Choose a password to create your account.' : undefined}
      refusalHint={refusalHint(Boolean(invite))}
    />
  )
}
