// The shapes of the HTTP and socket.io contract (docs/API.md). Fields the contract does
// not promise are optional, so the app copes with both an older and a newer server.

export interface FieldError {
  field: string
  message: string
}

/** An RFC 9457 problem. */
export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  errors: FieldError[]
}

export interface Page<T> {
  data: T[]
  next_cursor: string | null
}

export interface User {
  id: string
  email: string
  /** `operator`: the instance's first account, which also sees every tenant's queues. */
  role?: 'user' | 'operator'
}

/**
 * Signup's and login's answer. It also carries the session `token`, for scripts; the web app
 * leaves it alone: its session is the HttpOnly cookie the same answer sets.
 */
export interface AuthResponse {
  user: User
}

// Operators: users, invites and every tenant's open circuits (docs/API.md "Auth", "Operations").

/** `GET /admin/users`: a user with what they own and how it is going. */
export interface AdminUser {
  id: string
  email: string
  role: 'user' | 'operator'
  /** Disabled by an operator: sessions and API keys answer 401, ingest to its sources 404; nothing is deleted. */
  disabled: boolean
  created_at: string
  sources: number
  subscriptions: number
  events_24h: number
  dead_letters: number
  open_circuits: number
}

/** `GET /invites`: an invite without its token (shown once, at creation). */
export interface Invite {
  id: string
  email: string
  expires_at: string
  /** When it was used to sign up; absent or null while it is still open. */
  used_at?: string | null
  created_at?: string
}

/** `POST /invites`' answer: the token, this once. */
export interface CreatedInvite {
  id: string
  email: string
  token: string
  expires_at: string
}

/** `GET /admin/subscriptions`: a subscription of any tenant, with its owner (never its secret). */
export interface AdminSubscription extends Pick<Subscription, 'id' | 'name' | 'target_url' | 'source_id' | 'is_active' | 'disabled_reason' | 'circuit_state' | 'created_at' | 'updated_at'> {
  user_id: string
  /** The owner's email. */
  owner_email?: string
  /** The owner's email, as a server that calls it `email` sends it. */
  email?: string
}

/** Who owns an operator's view of a subscription. */
export const ownerOf = (s: AdminSubscription): string => s.owner_email ?? s.email ?? s.user_id

export const PROVIDERS = ['none', 'stripe', 'github', 'shopify', 'standard_webhooks', 'hmac_sha256'] as const
export type Provider = (typeof PROVIDERS)[number]

export interface Source {
  id: string
  name: string
  provider: Provider
  token: string
  ingest_url: string
  has_verification_secret?: boolean
  created_at: string
  updated_at?: string
}

export interface NewSource {
  name: string
  provider: Provider
  verification_secret?: string
}

export type CircuitState = 'closed' | 'open' | 'half_open'
export type Ordering = 'none' | 'fifo'
export type OnDead = 'skip' | 'pause'

/** What a subscription is made of: the body of POST, PUT and (partly) PATCH. */
export interface SubscriptionInput {
  name: string
  target_url: string
  source_id: string | null
  event_types: string[]
  timeout_ms: number
  max_attempts: number
  rate_limit_per_sec: number
  payload_template: string | null
  headers: Record<string, string>
  /** Only events whose JSON payload contains this object (PostgreSQL `@>`); null: every event. */
  filter?: Record<string, unknown> | null
  ordering: Ordering
  on_dead: OnDead
  /** The kind of signing key, read on create only (rotate-secret changes it later). */
  signing_algorithm?: SigningAlgorithm
  /** JSON events in groups of up to `max_events` per request; null: one event per request. */
  batch?: Batch | null
}

/** How a batch subscription groups its JSON events. */
export interface Batch {
  /** 2 to 500 events per request. */
  max_events: number
  /** 0 to 60000: how long the first event of a group waits for others. */
  max_wait_ms: number
}

/**
 * `hmac_sha256` (v1, the Standard Webhooks default) and `hmac_sha512` (v1s) sign with a shared
 * `whsec_` secret; `ed25519` (v1a) and `rsa_pss_sha256` (v1r, RSASSA-PSS SHA-256, salt 32)
 * with a private key that stays in Warren, verified with the public key.
 */
export type SigningAlgorithm = 'hmac_sha256' | 'hmac_sha512' | 'ed25519' | 'rsa_pss_sha256'

/** What a rotation answers: the new key as receivers verify with it. */
export interface SigningKey {
  signing_algorithm?: SigningAlgorithm
  /** The `whsec_` secret (HMAC); null for Ed25519 and RSA. */
  signing_secret: string | null
  /** The Ed25519 `whpk_` key, or the RSA public key as PEM; null for HMAC. */
  public_key?: string | null
}

export interface Subscription extends SubscriptionInput, SigningKey {
  id: string
  is_active: boolean
  /** Why it is not active: `paused` when its owner paused it; otherwise Warren's reason (a 410, a run of failures). */
  disabled_reason?: string | null
  circuit_state: CircuitState
  /**
   * Deliveries held while it was not active. While it is active again and this is above
   * zero, they are being released.
   */
  held_count?: number
  created_at: string
  updated_at: string
}

/** What enabling a subscription does with the deliveries held while it was not active. */
export type HeldChoice = 'deliver' | 'discard'

/** `POST /events/replay`: every event of `[from, to)` (to: now) the subscription matches, again. */
export interface ReplayRangeInput {
  subscription_id: string
  from: string
  to?: string
}

export type StatsWindow = '1h' | '24h' | '7d'

export interface StatsPoint {
  t: string
  succeeded: number
  failed: number
  /** Not in the contract yet: per-bucket latency percentiles, charted when present. */
  p50?: number | null
  p95?: number | null
  p99?: number | null
}

export interface Stats {
  window: StatsWindow
  total: number
  succeeded: number
  failed: number
  dead: number
  /** A fraction from 0 to 1 (0, or null, when nothing was attempted: check `total`). */
  success_rate: number | null
  /** Attempts that timed out (counted in `failed`), and their fraction of all attempts. */
  timeouts?: number
  timeout_rate?: number | null
  latency_ms: { avg: number | null; p50: number | null; p95: number | null; p99: number | null }
  series: StatsPoint[]
}

/** A count, and whether there are more than it says (the server stops counting at 200). */
export interface Count {
  count: number
  more: boolean
}

export const BACKLOG_STATUSES = ['pending', 'retrying', 'held', 'dead'] as const
export type BacklogStatus = (typeof BACKLOG_STATUSES)[number]

/** One subscription's entry of `GET /stats`: its stats and its backlog now. */
export type SubscriptionStats = Stats & {
  subscription_id: string
  name: string
  backlog: Record<BacklogStatus, Count>
}

/** `GET /stats`: every subscription of the user over one window. */
export interface AllStats {
  window: StatsWindow
  data: SubscriptionStats[]
}

/** The main queue, a wait tier, a shard of FIFO subscriptions' doorbells, or the graveyard. */
export type QueueKind = 'deliver' | 'retry' | 'ordered' | 'graveyard'

export interface QueueInfo {
  name: string
  messages: number
  /** Null when the server cannot ask the management API. */
  messages_unacked: number | null
  consumers: number
  kind: QueueKind
  /** A wait queue's tier (`5s`, `2m`, …). */
  tier?: string | null
}

export const DELIVERY_STATUSES = ['pending', 'retrying', 'succeeded', 'dead', 'held', 'discarded'] as const
/** `held`: kept, never attempted, while its subscription is not active; `discarded`: dropped when it was enabled again. */
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number]

export type ErrorKind =
  | 'http_status'
  | 'timeout'
  | 'connect'
  | 'tls'
  | 'redirect'
  | 'ssrf_blocked'
  | 'body'
  | 'template'

export interface DeliverySummary {
  id: string
  event_id: string
  subscription_id: string
  status: DeliveryStatus
  attempt_count: number
  next_attempt_at: string | null
  last_status_code?: number | null
  last_error_kind?: ErrorKind | string | null
  created_at?: string
  updated_at?: string
  succeeded_at?: string | null
  dead_at?: string | null
  /** Present when the server joins it in (dead letters may). */
  event_type?: string
}

/** Where a FIFO line stands (docs/ordering.md). */
export type LineState = 'flowing' | 'retrying' | 'paused' | 'disabled' | 'empty'

/** `GET /subscriptions/{id}/line`: a subscription's FIFO line, its head and what waits behind it. */
export interface SubscriptionLine {
  ordering: Ordering
  on_dead: OnDead
  state: LineState
  /** When the line stopped on a dead head (`state: paused`). */
  paused_at: string | null
  /** The delivery at the front: the one being attempted or retried, or the dead one the line paused on. */
  head: DeliverySummary | null
  /** Deliveries waiting behind the head. */
  waiting: number
}

export interface Attempt {
  id?: string
  attempt: number
  started_at: string
  duration_ms: number
  status_code: number | null
  error_kind: ErrorKind | string | null
  response_excerpt: string | null
}

export interface Delivery extends DeliverySummary {
  succeeded_at?: string | null
  dead_at?: string | null
  attempts: Attempt[]
}

/** A dead letter is a delivery whose status is `dead`; its id is the delivery's id. */
export interface DeadLetter extends DeliverySummary {
  dead_at?: string | null
}

export interface EventSummary {
  id: string
  source_id: string | null
  event_type: string
  content_type?: string | null
  received_at: string
  size?: number
  idempotency_key?: string | null
  verified_by?: string | null
  /** In lists: how many deliveries the event got when it arrived. */
  deliveries?: number | DeliverySummary[]
}

export interface WarrenEvent extends Omit<EventSummary, 'deliveries'> {
  payload: unknown
  raw_body?: string
  headers?: Record<string, unknown>
  deliveries: DeliverySummary[]
}

export interface EventFilters {
  event_type?: string
  source_id?: string
  from?: string
  to?: string
  /** A JSON object (as text) the payload must contain. */
  contains?: string
}

export interface DeadLetterFilters {
  subscription_id?: string
  from?: string
  to?: string
}

export interface PublishInput {
  event_type: string
  payload: unknown
  source_id?: string
}

/** The answer of ingest and the publish API. */
export interface Accepted {
  id: string
  deliveries: number
}

// Notifications: telling a user that a receiver is in trouble.

export const NOTIFICATION_TYPES = [
  'subscription.failing',
  'subscription.circuit_opened',
  'subscription.disabled',
  'subscription.recovered',
  'delivery.dead',
] as const
export type NotificationType = (typeof NOTIFICATION_TYPES)[number]

export type ChannelKind = 'webhook' | 'email'

export interface NotificationChannel {
  id: string
  name: string
  kind: ChannelKind
  /** A webhook channel's URL. */
  target_url?: string | null
  /** An email channel's address. */
  email?: string | null
  /** Empty means every type. */
  types: NotificationType[]
  /** A webhook channel's Standard Webhooks secret: in the answer to its creation only. */
  signing_secret?: string | null
  created_at: string
}

/** The body of `POST /notification-channels`. */
export type NewNotificationChannel =
  | { name: string; kind: 'webhook'; target_url: string; types?: NotificationType[] }
  | { name: string; kind: 'email'; email: string; types?: NotificationType[] }

export interface WarrenNotification {
  id: string
  /** One of NOTIFICATION_TYPES, or a type this app does not know yet. */
  type: string
  at: string
  subscription_id: string | null
  /** `count`: how many occurrences it stands for; also `reason`, `delivery_id`, … */
  data: { count?: number; reason?: string; delivery_id?: string; [key: string]: unknown } | null
  read?: boolean
}

/** `GET /notifications`: a page, and how many of all of them are unread. */
export interface NotificationPage extends Page<WarrenNotification> {
  unread?: number
}

// socket.io payloads

export type AttemptOutcome = 'succeeded' | 'failed' | 'dead'

export interface DeliveryAttemptMessage {
  delivery_id: string
  event_id: string
  subscription_id: string
  attempt: number
  status_code: number | null
  duration_ms: number
  outcome: AttemptOutcome
  error_kind: string | null
  next_attempt_at: string | null
  at: string
  /** Promised by the backend; looked up from the event when absent. */
  event_type?: string
}

/** A delivery kept as `held`: its subscription is paused or disabled, so it is not attempted yet. */
export interface DeliveryHeldMessage {
  delivery_id: string
  event_id: string
  event_type: string
  subscription_id: string
  at: string
}

export interface EventReceivedMessage {
  event_id: string
  source_id: string | null
  event_type: string
  deliveries: number
  /** How many of those deliveries are held. */
  held?: number
  at: string
}

export interface SubscriptionUpdatedMessage {
  subscription_id: string
  is_active: boolean
  circuit_state: CircuitState
  reason: string | null
  at: string
}

export interface ServerEvents {
  'delivery.attempt': (message: DeliveryAttemptMessage) => void
  'delivery.held': (message: DeliveryHeldMessage) => void
  'event.received': (message: EventReceivedMessage) => void
  'subscription.updated': (message: SubscriptionUpdatedMessage) => void
  notification: (message: WarrenNotification) => void
}
