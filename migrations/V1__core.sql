-- The core of Warren: who owns what (users, sessions), where events come from (sources),
-- where they go (subscriptions), and what happened to each (events, deliveries, attempts).
--
-- Every row a user can see carries its owner (`user_id`) and every query is scoped by it.
-- Ids are UUIDv7 made by the services, so they sort by creation time.
-- The code matches on the constraint names below; rename one only together with the code.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    -- Stored lower-cased by the service, so uniqueness is case-insensitive.
    email         text        NOT NULL,
    -- argon2id PHC string; the password itself is never stored.
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Signup answers 409 on this one.
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE sessions (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL,
    -- SHA-256 of the bearer token; the token itself is shown once and never stored.
    token_hash bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    -- Every authenticated request looks a session up by this.
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE sources (
    id                  uuid        PRIMARY KEY,
    user_id             uuid        NOT NULL,
    name                text        NOT NULL,
    provider            text        NOT NULL,
    -- The provider's shared secret, used to verify signatures; NULL for provider `none`.
    verification_secret text,
    -- The unguessable part of the ingest URL. Kept in clear so the URL can be shown again.
    token               text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sources_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    -- Ingest finds the source by its token on every request.
    CONSTRAINT sources_token_key UNIQUE (token),
    CONSTRAINT sources_provider_check CHECK (
        provider IN ('stripe', 'github', 'shopify', 'standard_webhooks', 'hmac_sha256', 'none'))
);

CREATE INDEX sources_user_id_idx ON sources (user_id, id);

CREATE TABLE subscriptions (
    id                          uuid        PRIMARY KEY,
    user_id                     uuid        NOT NULL,
    -- NULL: every source of the user, including sources created later.
    source_id                   uuid,
    name                        text        NOT NULL,
    target_url                  text        NOT NULL,
    -- Empty: every event type. Patterns are exact types or prefixes ending in `*`.
    event_types                 text[]      NOT NULL DEFAULT '{}',
    timeout_ms                  integer     NOT NULL DEFAULT 10000,
    max_attempts                integer     NOT NULL DEFAULT 8,
    rate_limit_per_sec          integer     NOT NULL DEFAULT 100,
    payload_template            text,
    -- Extra request headers, a JSON object of strings.
    headers                     jsonb       NOT NULL DEFAULT '{}',
    ordering                    text        NOT NULL DEFAULT 'none',
    on_dead                     text        NOT NULL DEFAULT 'skip',
    -- Needed in clear to sign; never logged, shown only to the owner.
    signing_secret              text        NOT NULL,
    -- During a rotation the old secret keeps signing until it expires.
    previous_signing_secret     text,
    previous_secret_expires_at  timestamptz,
    is_active                   boolean     NOT NULL DEFAULT true,
    disabled_reason             text,
    circuit_state               text        NOT NULL DEFAULT 'closed',
    circuit_opened_at           timestamptz,
    consecutive_failures        integer     NOT NULL DEFAULT 0,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    -- A source with subscriptions cannot be deleted (the API answers 409): deleting it would
    -- otherwise silently widen or drop those subscriptions.
    CONSTRAINT subscriptions_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id) ON DELETE RESTRICT,
    CONSTRAINT subscriptions_timeout_ms_check CHECK (timeout_ms BETWEEN 1000 AND 30000),
    CONSTRAINT subscriptions_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 20),
    CONSTRAINT subscriptions_rate_limit_check CHECK (rate_limit_per_sec BETWEEN 1 AND 10000),
    CONSTRAINT subscriptions_ordering_check CHECK (ordering IN ('none', 'fifo')),
    CONSTRAINT subscriptions_on_dead_check CHECK (on_dead IN ('skip', 'pause')),
    CONSTRAINT subscriptions_circuit_state_check CHECK (circuit_state IN ('closed', 'open', 'half_open'))
);

-- Ingest loads the active subscriptions of a user on every event.
CREATE INDEX subscriptions_user_id_idx ON subscriptions (user_id, id);

CREATE TABLE events (
    id                 uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL,
    -- NULL for events published through the API without a source, or whose source was deleted.
    source_id          uuid,
    event_type         text        NOT NULL,
    content_type       text,
    -- The exact bytes received: what subscribers get, byte for byte.
    raw_body           bytea       NOT NULL,
    -- The parsed body when it was JSON, for querying; NULL otherwise.
    payload            jsonb,
    -- The request headers worth keeping (credentials and cookies are dropped).
    headers            jsonb       NOT NULL DEFAULT '{}',
    -- What an `Idempotency-Key` is unique within: the source for ingest, the user for the
    -- publish API. UUIDs of sources and users never collide, so one column serves both.
    idempotency_scope  uuid        NOT NULL,
    idempotency_key    text,
    -- Tells "same key, same body" (replay the answer) from "same key, other body" (422).
    body_sha256        bytea       NOT NULL,
    -- The number of deliveries created with the event: the answer an idempotent replay repeats.
    initial_deliveries integer     NOT NULL,
    -- Which provider's signature was checked, NULL when none was.
    verified_by        text,
    received_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT events_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id) ON DELETE SET NULL,
    -- NULL keys are distinct, so events without a key never collide.
    CONSTRAINT events_idempotency_key UNIQUE (idempotency_scope, idempotency_key)
);

CREATE INDEX events_user_id_idx ON events (user_id, id);

CREATE TABLE deliveries (
    id                 uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL,
    event_id           uuid        NOT NULL,
    subscription_id    uuid        NOT NULL,
    status             text        NOT NULL DEFAULT 'pending',
    -- Attempts made over the delivery's whole life (replays continue the count).
    attempt_count      integer     NOT NULL DEFAULT 0,
    -- `attempt_count` when the current round of attempts began (0, or when replayed), so a
    -- replay gets the subscription's full `max_attempts` again.
    round_start        integer     NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    -- Whether the broker confirmed the envelope for the next attempt. The outbox relay
    -- publishes every pending or retrying delivery where this stayed false.
    enqueued           boolean     NOT NULL DEFAULT false,
    last_status_code   integer,
    last_error_kind    text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    succeeded_at       timestamptz,
    dead_at            timestamptz,
    CONSTRAINT deliveries_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE,
    -- Deleting a subscription deletes its delivery history; workers skip envelopes whose
    -- delivery is gone.
    CONSTRAINT deliveries_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE,
    CONSTRAINT deliveries_status_check CHECK (status IN ('pending', 'retrying', 'succeeded', 'dead'))
);

CREATE INDEX deliveries_event_id_idx ON deliveries (event_id);
CREATE INDEX deliveries_subscription_id_idx ON deliveries (subscription_id, id);
-- The outbox relay's scan: small, because almost every delivery is enqueued at once.
CREATE INDEX deliveries_outbox_idx ON deliveries (updated_at)
    WHERE NOT enqueued AND status IN ('pending', 'retrying');

CREATE TABLE delivery_attempts (
    id               uuid        PRIMARY KEY,
    user_id          uuid        NOT NULL,
    delivery_id      uuid        NOT NULL,
    -- 1-based, over the delivery's whole life.
    attempt          integer     NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      integer     NOT NULL,
    -- NULL when no HTTP answer came (timeout, refused connection, SSRF refusal).
    status_code      integer,
    error_kind       text,
    -- The first bytes of the answer (at most 16 KiB read), lossily decoded as UTF-8.
    response_excerpt text,
    CONSTRAINT delivery_attempts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT delivery_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE,
    -- One row per attempt: a worker that raced another on the same attempt records nothing.
    CONSTRAINT delivery_attempts_delivery_attempt_key UNIQUE (delivery_id, attempt),
    CONSTRAINT delivery_attempts_error_kind_check CHECK (error_kind IN (
        'http_status', 'timeout', 'connect', 'tls', 'redirect', 'ssrf_blocked', 'body', 'template'))
);
