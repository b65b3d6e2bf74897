// Creating a notification channel: Name, Kind (webhook or email), Target URL or Email, and
// the Types it is told about (none checked: every type), each field with the API's error under it.
import { useId, useState, type FormEvent } from 'react'
import { ApiError, NOTIFICATION_TYPES, useCreateNotificationChannel, type ChannelKind, type NotificationChannel, type NotificationType } from '../../api'
import { Button, ChoiceField, ErrorMessage, SelectField, TextField } from '../../components/ui'
import { TYPE_LABELS } from './describe'

const KINDS: { value: ChannelKind; label: string }[] = [
  { value: 'webhook', label: 'Webhook' },
  { value: 'email', label: 'Email' },
]

export function ChannelForm({ onCreated }: { onCreated: (channel: NotificationChannel) => void }) {
  const [name, setName] = useState('')
  const [kind, setKind] = useState<ChannelKind>('webhook')
  const [targetUrl, setTargetUrl] = useState('')
  const [email, setEmail] = useState('')
  const [types, setTypes] = useState<NotificationType[]>([])
  const create = useCreateNotificationChannel()
  const typesId = useId()
  const fieldErrors = create.error instanceof ApiError ? create.error.fieldErrors() : {}
  const known = new Set(['name', 'kind', 'target_url', 'email', 'types'])
  const unplaced = Object.entries(fieldErrors).filter(([field]) => !known.has(field))
  const general = create.error && !(create.error instanceof ApiError && create.error.errors.length > 0) ? create.error : null

  const toggle = (type: NotificationType) => setTypes((ts) => (ts.includes(type) ? ts.filter((t) => t !== type) : [...ts, type]))

  const submit = (e: FormEvent) => {
    e.preventDefault()
    const chosen = types.length ? { types: NOTIFICATION_TYPES.filter((t) => types.includes(t)) } : {}
    const input =
      kind === 'webhook'
        ? { name: name.trim(), kind, target_url: targetUrl.trim(), ...chosen }
        : { name: name.trim(), kind, email: email.trim(), ...chosen }
    create.mutate(input, {
      onSuccess: (channel) => {
        setName('')
        setTargetUrl('')
        setEmail('')
        setTypes([])
        onCreated(channel)
      },
    })
  }

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-4">
      <ErrorMessage error={general} />
      {unplaced.length > 0 && (
        <div role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
          {unplaced.map(([field, message]) => (
            <p key={field}>
              {field}: {message}
            </p>
          ))}
        </div>
      )}
      <div className="grid grid-cols-1 gap-4 md:grid-cols-3 md:items-start">
        <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} error={fieldErrors.name} required />
        <SelectField label="Kind" value={kind} onChange={(e) => setKind(e.target.value as ChannelKind)} options={KINDS} error={fieldErrors.kind} />
        {kind === 'webhook' ? (
          <TextField
            label="Target URL"
            type="url"
            inputMode="url"
            placeholder="https://example.com/warren-alerts"
            value={targetUrl}
            onChange={(e) => setTargetUrl(e.target.value)}
            error={fieldErrors.target_url}
            hint="Gets a POST signed with Standard Webhooks for each notification."
            required
          />
        ) : (
          <TextField
            label="Email"
            type="email"
            placeholder="oncall@example.com"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            error={fieldErrors.email}
            hint="Gets a plain-text mail for each notification."
            required
          />
        )}
      </div>
      <fieldset className="flex flex-col gap-2" aria-describedby={`${typesId}-hint${fieldErrors.types ? ` ${typesId}-error` : ''}`}>
        <legend className="mb-1 text-sm font-medium text-slate-700">Types</legend>
        <p id={`${typesId}-hint`} className="text-xs text-slate-500">
          None checked means every type.
        </p>
        <div className="grid grid-cols-1 gap-2 sm:grid-cols-2 lg:grid-cols-3">
          {NOTIFICATION_TYPES.map((type) => (
            <ChoiceField
              key={type}
              type="checkbox"
              label={TYPE_LABELS[type].label}
              hint={
                <>
                  <code>{type}</code>: {TYPE_LABELS[type].means}
                </>
              }
              checked={types.includes(type)}
              onChange={() => toggle(type)}
            />
          ))}
        </div>
        {fieldErrors.types && (
          <p id={`${typesId}-error`} className="text-sm text-red-700" data-field-error>
            {fieldErrors.types}
          </p>
        )}
      </fieldset>
      <div>
        <Button type="submit" variant="primary" disabled={create.isPending}>
          Create channel
        </Button>
      </div>
    </form>
  )
}
