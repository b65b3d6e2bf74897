-- Time partitions, step 3 of 3: each of `events`, `deliveries` and `delivery_attempts` is
-- renamed `<table>_legacy` and becomes the first partition of a new partitioned table of the
-- same name, columns, defaults, checks, compression, indexes, foreign keys and triggers.
-- Nothing is copied or scanned: the legacy table's indexes are attached to the parent's
-- (they match), its foreign keys likewise, and its validated CHECK (V18, V19) proves its
-- rows lie in its range. The whole step holds ACCESS EXCLUSIVE on the three tables for the
-- milliseconds the catalog changes take.
--
-- Ranges are of UUIDv7 ids, which sort by the millisecond they were taken: `events` and
-- `deliveries` by their own id, `delivery_attempts` by `delivery_id` (attempts live with
-- their delivery, so `(delivery_id, attempt)` stays a legal unique key). Partitions are
-- `<table>_p<unix seconds>` for `[warren_first_id_at(start), warren_first_id_at(end))`,
-- created ahead by Warren itself (shared/src/partitions.rs), never by hand; `<table>_kept`
-- is the DEFAULT partition: rows retention must keep when it drops their partition, and a
-- safety net for a partition that is missing.

-- Partitions `t` (by `key`) from the table of that name, attached as `t_legacy` below `x`.
CREATE FUNCTION pg_temp.partition_table(t text, key text, x uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    legacy text := t || '_legacy';
    ix record;
    fk record;
BEGIN
    EXECUTE format('ALTER TABLE %I RENAME TO %I', t, legacy);
    -- The legacy table's indexes (and the constraints they back) take a `_legacy` suffix;
    -- the parent's get their names.
    FOR ix IN SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid = legacy::regclass
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', ix.name, ix.name || '_legacy');
    END LOOP;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY RANGE (%I)',
                   t, legacy, key);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, t || '_legacy_range');
    -- The parent's indexes, as the legacy's. A unique index without the partition key
    -- cannot be the parent's: it stays the legacy's alone.
    FOR ix IN
        SELECT c.relname AS name, con.conname, pg_get_indexdef(i.indexrelid) AS def,
               pg_get_constraintdef(con.oid) AS condef,
               i.indisunique AND NOT EXISTS (
                   SELECT 1 FROM unnest(i.indkey) AS k(attnum)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   WHERE a.attname = key) AS local_only
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
        WHERE i.indrelid = legacy::regclass
    LOOP
        CONTINUE WHEN ix.local_only;
        IF ix.conname IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', t,
                           left(ix.conname, length(ix.conname) - length('_legacy')), ix.condef);
        ELSE
            EXECUTE replace(replace(ix.def,
                'INDEX ' || quote_ident(ix.name) || ' ON ',
                'INDEX ' || quote_ident(left(ix.name, length(ix.name) - length('_legacy'))) || ' ON '),
                'public.' || quote_ident(legacy) || ' ', 'public.' || quote_ident(t) || ' ');
        END IF;
    END LOOP;
    -- Foreign keys from the table: the parent gets the same, and the attach below adopts the
    -- legacy's (already valid) instead of checking every row again.
    FOR fk IN
        SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = legacy::regclass AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I %s', t, fk.conname, fk.def);
    END LOOP;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                   t, legacy, x);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', legacy, t || '_legacy_range');
END
$$;

DROP TRIGGER events_legacy_key ON events;
DROP FUNCTION warren_claim_legacy_key();
DROP TRIGGER events_deleted ON events;
DROP TRIGGER deliveries_deleted ON deliveries;
-- Superseded by event_idempotency_keys.
DROP INDEX events_idempotency_key_idx;

SELECT pg_temp.partition_table('events', 'id', bound) FROM warren_legacy_bound;
SELECT pg_temp.partition_table('deliveries', 'id', bound) FROM warren_legacy_bound;
SELECT pg_temp.partition_table('delivery_attempts', 'delivery_id', bound) FROM warren_legacy_bound;
DROP TABLE warren_legacy_bound;

-- What V8's triggers did, now on the partitioned tables (statement-level triggers with
-- transition tables are supported there: the transition table holds the rows deleted from
-- every partition). Retention drops whole partitions without them (shared/src/partitions.rs).
-- Deleting events also frees their idempotency keys.
CREATE OR REPLACE FUNCTION warren_events_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE event_id IN (SELECT id FROM gone);
    DELETE FROM event_idempotency_keys WHERE event_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;
CREATE TRIGGER events_deleted AFTER DELETE ON events
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION warren_events_deleted();
CREATE TRIGGER deliveries_deleted AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION warren_deliveries_deleted();

-- `?contains=` on the events list: containment of the JSON payload. Built on the parent
-- only (no lock on the legacy rows): every partition created from now on has it, and
-- warren-ingest builds the legacy partition's CONCURRENTLY and attaches it
-- (shared/src/partitions.rs, `complete_indexes`); until then the parent index is not valid
-- and queries read the partitions' own indexes.
CREATE INDEX events_payload_idx ON ONLY events USING gin (payload jsonb_path_ops);

-- The DEFAULT partitions (after the index above, so they have it).
CREATE TABLE events_kept PARTITION OF events DEFAULT;
CREATE TABLE deliveries_kept PARTITION OF deliveries DEFAULT;
CREATE TABLE delivery_attempts_kept PARTITION OF delivery_attempts DEFAULT;
