// Small building blocks every page shares: fields with visible labels and their errors,
// buttons, and the loading, empty and error states.
import { Fragment, useId, useState, type ButtonHTMLAttributes, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react'
import { Link, type LinkProps } from 'react-router-dom'
import { errorMessage } from '../api'
import { urlSegments } from '../lib/format'

const cx = (...classes: (string | false | null | undefined)[]) => classes.filter(Boolean).join(' ')

type Variant = 'primary' | 'secondary' | 'danger' | 'ghost'

const variants: Record<Variant, string> = {
  primary: 'bg-teal-700 text-white hover:bg-teal-800 disabled:bg-teal-700/50',
  secondary: 'bg-white text-slate-800 border border-slate-300 hover:bg-slate-100 disabled:text-slate-400',
  danger: 'bg-white text-red-700 border border-red-300 hover:bg-red-50 disabled:text-red-300',
  ghost: 'text-teal-800 hover:bg-teal-50 disabled:text-slate-400',
}

const buttonBase =
  'inline-flex items-center justify-center gap-1 rounded-md px-3 py-1.5 text-sm font-medium whitespace-nowrap focus:outline-none focus-visible:ring-2 focus-visible:ring-teal-600 disabled:cursor-not-allowed'

export function Button({
  variant = 'secondary',
  className,
  type = 'button',
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant }) {
  return <button type={type} className={cx(buttonBase, variants[variant], className)} {...props} />
}

export function ButtonLink({ variant = 'secondary', className, ...props }: LinkProps & { variant?: Variant }) {
  return <Link className={cx(buttonBase, variants[variant], className)} {...props} />
}

export function TextLink({ className, ...props }: LinkProps) {
  return <Link className={cx('text-teal-800 underline-offset-2 hover:underline', className)} {...props} />
}

interface FieldShellProps {
  label: string
  error?: string
  hint?: ReactNode
  className?: string
  children: (ids: { id: string; describedBy?: string; invalid: boolean }) => ReactNode
}

/** A label above its control, with a hint and the field's error under it. */
function FieldShell({ label, error, hint, className, children }: FieldShellProps) {
  const id = useId()
  const hintId = hint ? `${id}-hint` : undefined
  const errorId = error ? `${id}-error` : undefined
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined
  return (
    <div className={cx('flex flex-col gap-1', className)}>
      <label htmlFor={id} className="text-sm font-medium text-slate-700">
        {label}
      </label>
      {children({ id, describedBy, invalid: Boolean(error) })}
      {hint && (
        <p id={hintId} className="text-xs text-slate-500">
          {hint}
        </p>
      )}
      {error && (
        <p id={errorId} className="text-sm text-red-700" data-field-error>
          {error}
        </p>
      )}
    </div>
  )
}

const controlClass = (invalid: boolean) =>
  cx(
    'min-h-9 w-full rounded-md border bg-white px-2.5 py-1.5 text-sm shadow-sm focus:outline-none focus:ring-2 focus:ring-teal-600',
    invalid ? 'border-red-500' : 'border-slate-300',
  )

type FieldProps = { label: string; error?: string; hint?: ReactNode; className?: string }

export function TextField({ label, error, hint, className, ...input }: FieldProps & InputHTMLAttributes<HTMLInputElement>) {
  return (
    <FieldShell label={label} error={error} hint={hint} className={className}>
      {({ id, describedBy, invalid }) => (
        <input id={id} aria-describedby={describedBy} aria-invalid={invalid} className={controlClass(invalid)} {...input} />
      )}
    </FieldShell>
  )
}

export function TextAreaField({ label, error, hint, className, ...input }: FieldProps & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return (
    <FieldShell label={label} error={error} hint={hint} className={className}>
      {({ id, describedBy, invalid }) => (
        <textarea id={id} aria-describedby={describedBy} aria-invalid={invalid} className={cx(controlClass(invalid), 'font-mono')} {...input} />
      )}
    </FieldShell>
  )
}

export function SelectField({
  label,
  error,
  hint,
  className,
  options,
  ...select
}: FieldProps & SelectHTMLAttributes<HTMLSelectElement> & { options: { value: string; label: string }[] }) {
  return (
    <FieldShell label={label} error={error} hint={hint} className={className}>
      {({ id, describedBy, invalid }) => (
        <select id={id} aria-describedby={describedBy} aria-invalid={invalid} className={controlClass(invalid)} {...select}>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </FieldShell>
  )
}

/** A radio button or checkbox with its label beside it and a hint under the label. */
export function ChoiceField({ label, hint, className, ...input }: { label: string; hint?: ReactNode; className?: string } & InputHTMLAttributes<HTMLInputElement> & { type: 'radio' | 'checkbox' }) {
  const id = useId()
  const hintId = hint ? `${id}-hint` : undefined
  return (
    <div className={cx('flex items-start gap-2', className)}>
      <input id={id} aria-describedby={hintId} className="mt-0.5 h-4 w-4 shrink-0 accent-teal-700" {...input} />
      <div className="min-w-0">
        <label htmlFor={id} className="text-sm text-slate-800">
          {label}
        </label>
        {hint && (
          <p id={hintId} className="text-xs text-slate-500">
            {hint}
          </p>
        )}
      </div>
    </div>
  )
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-center justify-between gap-3">
      <h1 className="text-xl font-semibold text-slate-900">{title}</h1>
      {children && <div className="flex flex-wrap items-center gap-2">{children}</div>}
    </div>
  )
}

export function Card({ title, actions, children, className }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section className={cx('rounded-lg border border-slate-200 bg-white p-4 shadow-sm', className)}>
      {(title || actions) && (
        <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
          {title && <h2 className="text-base font-semibold text-slate-800">{title}</h2>}
          {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  )
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p role="status" className="flex items-center gap-2 py-6 text-sm text-slate-500">
      <span className="h-4 w-4 animate-spin rounded-full border-2 border-slate-300 border-t-teal-700" aria-hidden />
      {label}
    </p>
  )
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="rounded-lg border border-dashed border-slate-300 px-4 py-8 text-center">
      <p className="font-medium text-slate-700">{title}</p>
      {children && <div className="mt-1 text-sm text-slate-500">{children}</div>}
    </div>
  )
}

/** An API error's `detail` (or any error's message), announced to assistive technology. */
export function ErrorMessage({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null
  return (
    <div role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
      {title && <span className="font-medium">{title}: </span>}
      {errorMessage(error)}
    </div>
  )
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div role="status" className="rounded-md border border-teal-200 bg-teal-50 px-3 py-2 text-sm text-teal-900">
      {children}
    </div>
  )
}

const badgeColors: Record<string, string> = {
  succeeded: 'bg-emerald-100 text-emerald-800',
  failed: 'bg-amber-100 text-amber-800',
  retrying: 'bg-amber-100 text-amber-800',
  pending: 'bg-sky-100 text-sky-800',
  dead: 'bg-red-100 text-red-800',
  open: 'bg-red-100 text-red-800',
  half_open: 'bg-amber-100 text-amber-800',
  closed: 'bg-emerald-100 text-emerald-800',
  active: 'bg-emerald-100 text-emerald-800',
  disabled: 'bg-slate-200 text-slate-700',
  paused: 'bg-amber-100 text-amber-800',
  held: 'bg-violet-100 text-violet-800',
  releasing: 'bg-sky-100 text-sky-800',
  discarded: 'bg-slate-200 text-slate-700',
  unread: 'bg-teal-100 text-teal-800',
}

/** A status word in a coloured pill; the word itself is the text unless `label` says more. */
export function Badge({ value, label, className }: { value: string; label?: string; className?: string }) {
  return (
    <span className={cx('inline-block rounded-full px-2 py-0.5 text-xs font-medium', badgeColors[value] ?? 'bg-slate-100 text-slate-700', className)}>
      {label ?? value.replace('_', ' ')}
    </span>
  )
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text)
    } catch {
      // Clipboard refused (plain http, say): select-and-copy by hand still works.
      const area = document.createElement('textarea')
      area.value = text
      document.body.appendChild(area)
      area.select()
      document.execCommand?.('copy')
      area.remove()
    }
    setCopied(true)
    setTimeout(() => setCopied(false), 1500)
  }
  return (
    <Button onClick={copy} aria-live="polite">
      {copied ? 'Copied' : label}
    </Button>
  )
}

/** Pretty-printed JSON in a scrollable block. */
export function JsonView({ value, label }: { value: unknown; label?: string }) {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2)
  return (
    <pre aria-label={label} className="max-h-[28rem] overflow-auto rounded-md bg-slate-900 p-3 text-xs leading-relaxed text-slate-100">
      <code>{text ?? 'null'}</code>
    </pre>
  )
}

/** A fact: its name, its value, and whether it takes a whole row (a long URL, say). */
export type Fact = [string, ReactNode] | [string, ReactNode, { wide: boolean }]

/** A row of key/value facts that wraps on a phone; words wrap whole. */
export function Facts({ items }: { items: Fact[] }) {
  return (
    <dl className="grid grid-cols-1 gap-x-6 gap-y-2 text-sm sm:grid-cols-2 lg:grid-cols-3">
      {items.map(([k, v, options]) => (
        <div key={k} className={cx('min-w-0', options?.wide && 'sm:col-span-2 lg:col-span-3')}>
          <dt className="text-xs uppercase tracking-wide text-slate-500">{k}</dt>
          <dd className="break-words text-slate-800">{v}</dd>
        </div>
      ))}
    </dl>
  )
}

/**
 * A URL in full that wraps only between its parts (after a `/`, before a `.` or `?`, …), so
 * no word is cut in two; a part wider than the line still wraps rather than overflow.
 */
export function Url({ url, className }: { url: string; className?: string }) {
  return (
    <span className={cx('font-mono text-xs [overflow-wrap:anywhere]', className)} data-url>
      {urlSegments(url).map((part, i) => (
        <Fragment key={i}>
          {i > 0 && <wbr />}
          {part}
        </Fragment>
      ))}
    </span>
  )
}

export function Mono({ children }: { children: ReactNode }) {
  return <span className="font-mono text-xs break-all">{children}</span>
}

export function LoadMore({ hasMore, loading, onClick }: { hasMore: boolean; loading: boolean; onClick: () => void }) {
  if (!hasMore) return null
  return (
    <div className="mt-3 flex justify-center">
      <Button onClick={onClick} disabled={loading}>
        {loading ? 'Loading…' : 'Load more'}
      </Button>
    </div>
  )
}

export { cx }
