// Every setting of a subscription, with each field's error (the form's own or the API's
// 422) right under it.
import { useState, type FormEvent } from 'react'
import { ApiError, useSources, type SubscriptionInput } from '../../api'
import { Button, ErrorMessage, SelectField, TextAreaField, TextField } from '../../components/ui'
import { toInput, type FieldErrors, type FormValues } from './formModel'
import { signingAlgorithmOptions } from './signingAlgorithms'

interface Props {
  initial: FormValues
  submitLabel: string
  pending: boolean
  /** The last submit's error: a 422's `errors` go next to their fields, anything else on top. */
  error: Error | null
  onSubmit: (input: SubscriptionInput) => void
  /** A new subscription: the form offers the kind of signing key (later, a rotation changes it). */
  creating?: boolean
}

export function SubscriptionForm({ initial, submitLabel, pending, error, onSubmit, creating = false }: Props) {
  const [values, setValues] = useState<FormValues>(initial)
  const [localErrors, setLocalErrors] = useState<FieldErrors>({})
  const sources = useSources()
  const serverErrors: Record<string, string> = error instanceof ApiError ? error.fieldErrors() : {}
  const errors: Record<string, string | undefined> = { ...serverErrors, ...localErrors }
  // The API names `batch` for either of its numbers; it is shown under the batch size.
  const knownFields = new Set([...Object.keys(initial).filter((field) => creating || field !== 'signing_algorithm'), 'batch'])
  const unplaced = Object.entries(serverErrors).filter(([field]) => !knownFields.has(field))
  const general = error && !(error instanceof ApiError && error.errors.length > 0) ? error : null

  const set =
    (field: keyof FormValues) =>
    (e: { target: { value: string } }) => {
      setValues((v) => ({ ...v, [field]: e.target.value }))
      setLocalErrors((errs) => ({ ...errs, [field]: undefined }))
    }

  const submit = (e: FormEvent) => {
    e.preventDefault()
    const { input, errors: found } = toInput(values, creating)
    setLocalErrors(found)
    if (Object.keys(found).length === 0) onSubmit(input)
  }

  const sourceOptions = [
    { value: '', label: 'Every source (and the publish API)' },
    ...(sources.data ?? []).map((s) => ({ value: s.id, label: s.name })),
  ]
  if (values.source_id && !sources.data?.some((s) => s.id === values.source_id)) {
    sourceOptions.push({ value: values.source_id, label: values.source_id })
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
      <div className="grid grid-cols-1 gap-4 md:grid-cols-2">
        <TextField label="Name" value={values.name} onChange={set('name')} error={errors.name} required />
        <TextField
          label="Target URL"
          type="url"
          inputMode="url"
          placeholder="https://example.com/webhooks"
          value={values.target_url}
          onChange={set('target_url')}
          error={errors.target_url}
          required
        />
        <SelectField label="Source" value={values.source_id} onChange={set('source_id')} options={sourceOptions} error={errors.source_id} />
        <TextField
          label="Event types"
          placeholder="order.paid, invoice.*"
          value={values.event_types}
          onChange={set('event_types')}
          error={errors.event_types}
          hint="Comma-separated types or prefixes ending in *. Empty means every type."
        />
        <TextField label="Timeout (ms)" inputMode="numeric" value={values.timeout_ms} onChange={set('timeout_ms')} error={errors.timeout_ms} hint="1000 to 30000." />
        <TextField label="Max attempts" inputMode="numeric" value={values.max_attempts} onChange={set('max_attempts')} error={errors.max_attempts} hint="1 to 20; after the last failure the delivery is dead." />
        <SelectField
          label="Ordering"
          value={values.ordering}
          onChange={set('ordering')}
          error={errors.ordering}
          options={[
            { value: 'none', label: 'None' },
            { value: 'fifo', label: 'FIFO' },
          ]}
          hint="None: deliveries go out side by side, in any order. FIFO: one at a time, in the order the events arrived; each waits until the one before it succeeds or goes dead."
        />
        <SelectField
          label="On dead"
          value={values.on_dead}
          onChange={set('on_dead')}
          error={errors.on_dead}
          options={[
            { value: 'skip', label: 'Skip' },
            { value: 'pause', label: 'Pause' },
          ]}
          hint="For FIFO: when a delivery runs out of attempts, Skip sends the next one; Pause stops the subscription until you replay or discard the dead one."
        />
        <TextField
          label="Rate limit (per second)"
          inputMode="numeric"
          value={values.rate_limit_per_sec}
          onChange={set('rate_limit_per_sec')}
          error={errors.rate_limit_per_sec}
          hint="1 to 10000 requests per second."
        />
        {creating && (
          <SelectField
            label="Signing algorithm"
            value={values.signing_algorithm}
            onChange={set('signing_algorithm')}
            error={errors.signing_algorithm}
            options={signingAlgorithmOptions}
            hint="HMAC signs with a shared whsec_ secret; Ed25519 and RSA-PSS with a private key that never leaves Warren, verified with the public key shown after creating. A rotation can change it later."
          />
        )}
        <div className="grid grid-cols-2 gap-4">
          <TextField
            label="Batch size (events)"
            inputMode="numeric"
            placeholder="off"
            value={values.batch_max_events}
            onChange={set('batch_max_events')}
            error={errors.batch_max_events ?? errors.batch}
            hint="2 to 500 JSON events per request. Empty sends each event alone. Not with FIFO or a template."
          />
          <TextField
            label="Batch wait (ms)"
            inputMode="numeric"
            placeholder="off"
            value={values.batch_max_wait_ms}
            onChange={set('batch_max_wait_ms')}
            error={errors.batch_max_wait_ms}
            hint="0 to 60000: how long the first event waits for the batch to fill."
          />
        </div>
        <TextAreaField
          label="Headers"
          rows={3}
          placeholder={'X-Team: payments\nAuthorization: Bearer …'}
          value={values.headers}
          onChange={set('headers')}
          error={errors.headers}
          hint="One “Name: value” per line, added to every request."
        />
        <TextAreaField
          label="Payload filter"
          rows={3}
          placeholder={'{"customer": {"id": "cus_1"}}'}
          value={values.filter}
          onChange={set('filter')}
          error={errors.filter}
          hint="A JSON object: only events whose payload contains it are delivered (every key, with a containing value; arrays match by element). Empty means every event."
        />
        <TextAreaField
          label="Payload template"
          rows={3}
          placeholder={'{"text": "{{ event.type }}: {{ payload.id }}"}'}
          value={values.payload_template}
          onChange={set('payload_template')}
          error={errors.payload_template}
          hint="Empty sends the original body. {{ payload.a.b }}, {{ event.id }}, {{ event.type }}, {{ event.received_at }}."
        />
      </div>
      <div>
        <Button type="submit" variant="primary" disabled={pending}>
          {pending ? 'Saving…' : submitLabel}
        </Button>
      </div>
    </form>
  )
}
