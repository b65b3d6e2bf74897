-- Payload filters (issue 25): a subscription with a `filter` takes only the events whose JSON
-- payload contains it, in the sense of `payload @> filter`. NULL: no filter, every event of
-- its source and types. Ingest matches filters in Rust with exactly these semantics
-- (shared/src/containment); replays match them in SQL with `@>`, which the GIN index on
-- events.payload (`events_payload_idx`, jsonb_path_ops) serves, as it serves the events
-- list's `contains`.
--
-- Adding a nullable column without a default rewrites nothing; the check scans
-- subscriptions, a small table, once.
ALTER TABLE subscriptions ADD COLUMN filter jsonb;

-- The API refuses any other filter (422 naming `filter`); the constraint keeps the column
-- what ingest assumes of it whatever writes it.
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_filter_object
    CHECK (filter IS NULL OR jsonb_typeof(filter) = 'object');
