import { useSignup } from '../../api'
import { AuthForm } from './AuthForm'

export function SignupPage() {
  const signup = useSignup()
  return (
    <AuthForm
      title="Create your Warren account"
      submitLabel="Sign up"
      mutation={signup}
      passwordHint="At least 8 characters."
      autoCompletePassword="new-password"
      alternative={{ text: 'Already have an account?', to: '/login', label: 'Log in' }}
    />
  )
}
