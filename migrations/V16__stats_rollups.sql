-- Statistics from rollups (issue 25): a subscription's attempts counted per minute and per
-- hour as they are recorded, so a stats call reads at most 59 minute rows and 168 hour rows
-- however many attempts the window holds. The worker's record statement
-- (deliver/src/records.rs) adds each attempt it inserts to both tables in the same
-- statement; `warren_rollup_rebuild` recomputes them from `delivery_attempts` (this
-- migration's backfill, and rows written by COPY such as warren-bench's seeding).

-- An attempt's latency bucket: ceil(ln(ms + 1) / ln(1.1)), so each bucket is 10 % wider than
-- the one before (0 ms is bucket 0; 1 ms bucket 8; 1 s bucket 73), capped at bucket 160
-- (about 70 minutes). Every duration up to 9 ms has a bucket of its own. The Rust side
-- (ingest/src/stats/histogram.rs) holds the inverse.
CREATE FUNCTION warren_latency_bucket(ms integer) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN least(ceil(ln(greatest(ms, 0) + 1.0) / ln(1.1)), 160)::integer;

-- The aggregate's step: counts[b + 1] += 1 for the duration's bucket b, growing the array
-- (1-based, zeros between) only as far as the highest bucket seen, so fast receivers keep
-- short arrays.
CREATE FUNCTION warren_latency_count(counts integer[], ms integer) RETURNS integer[]
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    slot integer := warren_latency_bucket(ms) + 1;
    have integer := cardinality(counts);
BEGIN
    IF have < slot THEN
        counts := counts || array_fill(0, ARRAY[slot - have]);
    END IF;
    counts[slot] := counts[slot] + 1;
    RETURN counts;
END
$$;

-- The latency histogram of a group of durations: element i counts durations in bucket i - 1.
CREATE AGGREGATE warren_latency_histogram(integer) (
    SFUNC = warren_latency_count,
    STYPE = integer[],
    INITCOND = '{}'
);

-- Two histograms added element by element (of any lengths), for the upserts below.
CREATE FUNCTION warren_latency_add(a integer[], b integer[]) RETURNS integer[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (SELECT coalesce(array_agg(coalesce(a[i], 0) + coalesce(b[i], 0) ORDER BY i), '{}')
            FROM generate_series(1, greatest(cardinality(a), cardinality(b))) AS i);

-- The sum of histograms, for the hour rows the rebuild makes of minute rows.
CREATE AGGREGATE warren_latency_sum(integer[]) (
    SFUNC = warren_latency_add,
    STYPE = integer[],
    INITCOND = '{}'
);

-- One row per subscription per minute (`bucket` is the minute's start) that had attempts.
-- `failed` = `attempts - succeeded`; `timeouts` are the failed ones whose error_kind is
-- 'timeout'; `dead` the attempts that moved their delivery to `dead`.
CREATE TABLE subscription_rollups_minute (
    subscription_id  uuid        NOT NULL,
    bucket           timestamptz NOT NULL,
    attempts         integer     NOT NULL,
    succeeded        integer     NOT NULL,
    timeouts         integer     NOT NULL,
    dead             integer     NOT NULL,
    duration_ms_sum  bigint      NOT NULL,
    latency          integer[]   NOT NULL,
    -- No foreign key to `subscriptions`: checking one would take a KEY SHARE lock on the
    -- subscription inside the worker's record statement, after its delivery row, while a
    -- subscription's DELETE locks the subscription and then (cascading) the delivery: a
    -- deadlock. The trigger below deletes a subscription's rollups after the cascade instead.
    CONSTRAINT subscription_rollups_minute_pkey PRIMARY KEY (subscription_id, bucket)
) WITH (fillfactor = 70);
-- fillfactor: a busy minute's row is rewritten by every record statement in it; room on the
-- page keeps those updates HOT (the key never changes, no index is touched).

-- The same per hour (`bucket` is the hour's start).
CREATE TABLE subscription_rollups_hour (
    subscription_id  uuid        NOT NULL,
    bucket           timestamptz NOT NULL,
    attempts         integer     NOT NULL,
    succeeded        integer     NOT NULL,
    timeouts         integer     NOT NULL,
    dead             integer     NOT NULL,
    duration_ms_sum  bigint      NOT NULL,
    latency          integer[]   NOT NULL,
    CONSTRAINT subscription_rollups_hour_pkey PRIMARY KEY (subscription_id, bucket)
) WITH (fillfactor = 70);

-- Deleting a subscription deletes its statistics: a statement trigger, which runs after the
-- deliveries' cascade (row triggers), so a DELETE takes subscription, deliveries, rollups in
-- the order the worker takes deliveries, rollups.
CREATE FUNCTION warren_subscriptions_deleted_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM subscription_rollups_minute WHERE subscription_id IN (SELECT id FROM gone);
    DELETE FROM subscription_rollups_hour WHERE subscription_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;
CREATE TRIGGER subscriptions_deleted_rollups AFTER DELETE ON subscriptions
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION warren_subscriptions_deleted_rollups();

-- Recomputes both rollups from `delivery_attempts` for every minute and hour from `since`
-- (rounded down to its hour) on: deletes those rows and inserts the attempts' aggregates.
-- Returns the number of attempts counted. For the backfill below and for attempts written
-- around the worker (COPY by warren-bench, a restore); not meant to run while workers record
-- attempts in that range (an attempt recorded during the rebuild may be counted twice or
-- not at all). Reads every attempt since `since`: about a second per million.
CREATE FUNCTION warren_rollup_rebuild(since timestamptz) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    start timestamptz := date_bin('1 hour', since, TIMESTAMPTZ 'epoch');
    counted bigint;
BEGIN
    DELETE FROM subscription_rollups_minute WHERE bucket >= start;
    DELETE FROM subscription_rollups_hour WHERE bucket >= start;
    INSERT INTO subscription_rollups_minute (subscription_id, bucket, attempts, succeeded,
        timeouts, dead, duration_ms_sum, latency)
    SELECT a.subscription_id, date_bin('1 minute', a.started_at, TIMESTAMPTZ 'epoch'),
           count(*), count(*) FILTER (WHERE a.error_kind IS NULL),
           count(*) FILTER (WHERE a.error_kind = 'timeout'),
           count(*) FILTER (WHERE d.status = 'dead' AND d.attempt_count = a.attempt),
           sum(a.duration_ms), warren_latency_histogram(a.duration_ms)
    FROM delivery_attempts AS a JOIN deliveries AS d ON d.id = a.delivery_id
    WHERE a.started_at >= start
    GROUP BY 1, 2;
    INSERT INTO subscription_rollups_hour (subscription_id, bucket, attempts, succeeded,
        timeouts, dead, duration_ms_sum, latency)
    SELECT subscription_id, date_bin('1 hour', bucket, TIMESTAMPTZ 'epoch'),
           sum(attempts), sum(succeeded), sum(timeouts), sum(dead), sum(duration_ms_sum),
           warren_latency_sum(latency)
    FROM subscription_rollups_minute
    WHERE bucket >= start
    GROUP BY 1, 2;
    SELECT coalesce(sum(attempts), 0) INTO counted
        FROM subscription_rollups_minute WHERE bucket >= start;
    RETURN counted;
END
$$;

-- The backfill: the last 8 days of attempts (the longest window is 7 days). A GROUP BY over
-- those attempts joined to their deliveries: seconds for a few million attempts; see
-- docs/operations.md.
SELECT warren_rollup_rebuild(now() - interval '8 days');
