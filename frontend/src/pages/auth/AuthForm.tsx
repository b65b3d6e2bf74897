// The one form behind Sign up and Log in: Email, Password, and the server's answer.
import { useState, type FormEvent, type ReactNode } from 'react'
import { Link, useLocation, useNavigate } from 'react-router-dom'
import { ApiError, type Credentials } from '../../api'
import { Button, ErrorMessage, TextField } from '../../components/ui'
import type { UseMutationResult } from '@tanstack/react-query'

interface Props {
  title: string
  submitLabel: string
  mutation: UseMutationResult<unknown, Error, Credentials>
  passwordHint?: string
  autoCompletePassword: 'current-password' | 'new-password'
  alternative: { text: string; to: string; label: string }
  /** What the Email field starts with (an invite link's address). */
  initialEmail?: string
  /** Sent along with email and password (an invite's token). */
  extra?: Partial<Credentials>
  /** Said above the fields (that the person was invited). */
  intro?: ReactNode
  /** Said under the server's refusal, for a status that needs a next step (403 on signup: ask for an invite). */
  refusalHint?: (error: ApiError) => ReactNode
}

export function AuthForm({ title, submitLabel, mutation, passwordHint, autoCompletePassword, alternative, initialEmail = '', extra, intro, refusalHint }: Props) {
  const [email, setEmail] = useState(initialEmail)
  const [password, setPassword] = useState('')
  const navigate = useNavigate()
  const location = useLocation()
  const from = (location.state as { from?: string } | null)?.from ?? '/'
  const error = mutation.error
  const fieldErrors = error instanceof ApiError ? error.fieldErrors() : {}
  const general = error && !(error instanceof ApiError && error.errors.length > 0) ? error : null

  const submit = (e: FormEvent) => {
    e.preventDefault()
    mutation.mutate({ ...extra, email: email.trim(), password }, { onSuccess: () => navigate(from, { replace: true }) })
  }

  return (
    <div className="flex min-h-screen items-start justify-center px-4 pt-16 sm:pt-24">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex items-center gap-2 text-teal-800">
          <img src="/warren.svg" alt="" className="h-8 w-8" />
          <span className="text-2xl font-semibold">Warren</span>
        </div>
        <form onSubmit={submit} noValidate className="flex flex-col gap-4 rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
          <h1 className="text-lg font-semibold">{title}</h1>
          {intro && <p className="text-sm text-slate-600">{intro}</p>}
          <ErrorMessage error={general} />
          {general instanceof ApiError && refusalHint?.(general)}
          <TextField
            label="Email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            error={fieldErrors.email}
          />
          <TextField
            label="Password"
            type="password"
            autoComplete={autoCompletePassword}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            error={fieldErrors.password}
            hint={passwordHint}
          />
          <Button type="submit" variant="primary" disabled={mutation.isPending}>
            {submitLabel}
          </Button>
          <p className="text-sm text-slate-600">
            {alternative.text}{' '}
            <Link to={alternative.to} state={location.state} className="text-teal-800 underline">
              {alternative.label}
            </Link>
          </p>
        </form>
      </div>
    </div>
  )
}
