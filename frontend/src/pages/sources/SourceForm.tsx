// Creating a source: Name, Provider, Verification secret.
import { useState, type FormEvent } from 'react'
import { ApiError, PROVIDERS, useCreateSource, type Provider, type Source } from '../../api'
import { Button, ErrorMessage, SelectField, TextField } from '../../components/ui'

const PROVIDER_LABELS: Record<Provider, string> = {
  none: 'None (no signature check)',
  stripe: 'Stripe',
  github: 'GitHub',
  shopify: 'Shopify',
  standard_webhooks: 'Standard Webhooks',
  hmac_sha256: 'HMAC-SHA256 (X-Signature)',
}

const SECRET_HINTS: Record<Provider, string> = {
  none: 'Not needed: events are accepted without a signature.',
  stripe: 'The endpoint secret from Stripe (whsec_…).',
  github: 'The webhook secret you gave GitHub.',
  shopify: 'The app’s shared secret.',
  standard_webhooks: 'The sender’s secret (whsec_ followed by base64).',
  hmac_sha256: 'Senders put sha256=<hex HMAC of the body> in X-Signature.',
}

export function SourceForm({ onCreated }: { onCreated: (source: Source) => void }) {
  const [name, setName] = useState('')
  const [provider, setProvider] = useState<Provider>('none')
  const [secret, setSecret] = useState('')
  const create = useCreateSource()
  const fieldErrors = create.error instanceof ApiError ? create.error.fieldErrors() : {}
  const general = create.error && !(create.error instanceof ApiError && create.error.errors.length) ? create.error : null

  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate(
      { name: name.trim(), provider, ...(secret ? { verification_secret: secret } : {}) },
      {
        onSuccess: (source) => {
          setName('')
          setSecret('')
          onCreated(source)
        },
      },
    )
  }

  return (
    <form onSubmit={submit} noValidate className="grid grid-cols-1 gap-3 md:grid-cols-3 md:items-start">
      <ErrorMessage error={general} />
      <TextField className="md:col-start-1" label="Name" value={name} onChange={(e) => setName(e.target.value)} error={fieldErrors.name} required />
      <SelectField
        label="Provider"
        value={provider}
        onChange={(e) => setProvider(e.target.value as Provider)}
        options={PROVIDERS.map((p) => ({ value: p, label: PROVIDER_LABELS[p] }))}
        error={fieldErrors.provider}
      />
      <TextField
        label="Verification secret"
        value={secret}
        onChange={(e) => setSecret(e.target.value)}
        error={fieldErrors.verification_secret}
        hint={SECRET_HINTS[provider]}
        autoComplete="off"
        disabled={provider === 'none'}
      />
      <div className="md:col-span-3">
        <Button type="submit" variant="primary" disabled={create.isPending}>
          Create source
        </Button>
      </div>
    </form>
  )
}

export { PROVIDER_LABELS }
