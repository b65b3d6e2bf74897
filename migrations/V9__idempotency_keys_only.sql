-- Only events that carry an `Idempotency-Key` take part in its uniqueness. Most events carry
-- none, and each of those still paid an entry (scope, NULL) in the unique index that nothing
-- ever looks up or collides with. Ingest's insert names this index's columns and predicate
-- (`ON CONFLICT (idempotency_scope, idempotency_key) WHERE idempotency_key IS NOT NULL`), and
-- the replay's lookup by scope and key uses it as before.
CREATE UNIQUE INDEX events_idempotency_key_idx ON events (idempotency_scope, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE events DROP CONSTRAINT events_idempotency_key;
