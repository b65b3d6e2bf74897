import { useLogin } from '../../api'
import { AuthForm } from './AuthForm'

export function LoginPage() {
  const login = useLogin()
  return (
    <AuthForm
      title="Log in to Warren"
      submitLabel="Log in"
      mutation={login}
      autoCompletePassword="current-password"
      alternative={{ text: 'No account yet?', to: '/signup', label: 'Sign up' }}
    />
  )
}
