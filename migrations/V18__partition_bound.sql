-- Time partitions, step 1 of 3 (docs/architecture.md, "History that does not slow it down";
-- docs/operations.md, "Upgrading to partitioned history"). No table is copied: today's
-- `events`, `deliveries` and `delivery_attempts` become the `_legacy` partition of their new
-- partitioned selves, attached without a scan because a validated CHECK already proves
-- every row lies below the legacy partition's upper bound. This step fixes that bound and
-- adds the CHECKs NOT VALID (a brief lock each, no scan).

-- The smallest UUIDv7 of the millisecond `at`: every id taken before `at` sorts below it
-- (what shared/src/partitions.rs computes in Rust). Partition bounds are such ids.
CREATE FUNCTION warren_first_id_at(at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT encode(substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
                  || '\x70008000000000000000'::bytea, 'hex')::uuid
$$;

-- The legacy partition's upper bound. With rows: the start of the day after tomorrow (UTC),
-- a bound in the future, so the version being replaced keeps writing while the upgrade
-- goes on (rows up to then stay in the legacy partition). Without rows (a fresh install, a
-- test database): now, so partitions start at once. Read by V20, then dropped.
CREATE TABLE warren_legacy_bound (bound uuid NOT NULL);
INSERT INTO warren_legacy_bound
SELECT warren_first_id_at(CASE
    WHEN EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM deliveries)
         OR EXISTS (SELECT 1 FROM delivery_attempts)
    THEN (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '2 days') AT TIME ZONE 'UTC'
    ELSE now()
END);

DO $$
DECLARE
    x uuid := (SELECT bound FROM warren_legacy_bound);
BEGIN
    EXECUTE format('ALTER TABLE events ADD CONSTRAINT events_legacy_range CHECK (id < %L) NOT VALID', x);
    EXECUTE format('ALTER TABLE deliveries ADD CONSTRAINT deliveries_legacy_range CHECK (id < %L) NOT VALID', x);
    EXECUTE format('ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_legacy_range '
                   'CHECK (delivery_id < %L) NOT VALID', x);
END
$$;

-- Idempotency keys move to a table of their own (a unique index on a partitioned table must
-- hold the partition key, and (scope, key) cannot). From now on every keyed event also
-- claims its key there, through this trigger while the replaced version still writes; V19
-- copies the keys of the events stored before, and V20 drops the trigger (the new ingest
-- claims keys itself, in the statement that stores the event).
CREATE TABLE event_idempotency_keys (
    idempotency_scope uuid NOT NULL,
    idempotency_key   text NOT NULL,
    event_id          uuid NOT NULL,
    CONSTRAINT event_idempotency_keys_pkey PRIMARY KEY (idempotency_scope, idempotency_key)
);
-- Retention and erasure free the keys of the events they remove.
CREATE INDEX event_idempotency_keys_event_id_idx ON event_idempotency_keys (event_id);

CREATE FUNCTION warren_claim_legacy_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_idempotency_keys VALUES (NEW.idempotency_scope, NEW.idempotency_key, NEW.id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_legacy_key AFTER INSERT ON events FOR EACH ROW
    WHEN (NEW.idempotency_key IS NOT NULL) EXECUTE FUNCTION warren_claim_legacy_key();
