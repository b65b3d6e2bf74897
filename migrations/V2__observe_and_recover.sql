-- Observe and recover: API keys, discarding dead letters, and the indexes that keep the
-- lists and the per-subscription stats fast on millions of rows.

CREATE TABLE api_keys (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL,
    name         text        NOT NULL,
    -- SHA-256 of the key; the key itself is shown once, at creation.
    key_hash     bytea       NOT NULL,
    -- The key's first characters, so a person can tell their keys apart.
    key_prefix   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Updated at most once a minute, so a busy key does not write on every request.
    last_used_at timestamptz,
    CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    -- Every request made with a key looks it up by this.
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);

CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, id);

-- A discarded dead letter stays in the delivery log but leaves the dead-letter list.
ALTER TABLE deliveries ADD COLUMN discarded_at timestamptz;

-- The dead-letter list: a user's dead, undiscarded deliveries, newest first.
CREATE INDEX deliveries_dead_letters_idx ON deliveries (user_id, id)
    WHERE status = 'dead' AND discarded_at IS NULL;

-- Stats count deliveries that went dead within a window, per subscription.
CREATE INDEX deliveries_dead_at_idx ON deliveries (subscription_id, dead_at)
    WHERE status = 'dead';

-- Attempts carry their subscription so stats read one index range instead of joining
-- every delivery of the subscription.
ALTER TABLE delivery_attempts ADD COLUMN subscription_id uuid;
UPDATE delivery_attempts AS a SET subscription_id = d.subscription_id
    FROM deliveries AS d WHERE d.id = a.delivery_id;
ALTER TABLE delivery_attempts ALTER COLUMN subscription_id SET NOT NULL;

-- Stats over a window: an index-only range scan holding everything the query reads.
CREATE INDEX delivery_attempts_stats_idx ON delivery_attempts (subscription_id, started_at)
    INCLUDE (duration_ms, error_kind);

-- The event list filtered by type, and by source, newest first.
CREATE INDEX events_user_type_idx ON events (user_id, event_type, id);
CREATE INDEX events_source_id_idx ON events (source_id, id);
