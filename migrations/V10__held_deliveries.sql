-- Receiver outages: held, not dropped (docs/architecture.md, "Held deliveries").
--
-- A subscription that is not active (paused by its owner, or disabled by Warren) keeps a
-- `held` delivery for every event it matches; nothing is published for it. Enabling it
-- releases them (back to `pending`, in batches paced by the subscription's rate limit) or
-- discards them (`discarded`: never attempted, not a dead letter).

-- The two new statuses. Added NOT VALID, then validated: the validation scans the table
-- under a lock that lets reads and writes go on, instead of holding writes for the scan.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check CHECK (
    status IN ('pending', 'retrying', 'succeeded', 'dead', 'held', 'discarded')) NOT VALID;
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_status_check;

-- A subscription's held deliveries in the order a release sends them (by place in line for
-- a FIFO subscription, then oldest first): `held_count`, the batches a release or a discard
-- takes, and which subscriptions hold any. Only held rows are in it, so the hot path (every
-- other delivery) never touches it.
CREATE INDEX deliveries_held_idx ON deliveries (subscription_id, fifo_seq, id) WHERE status = 'held';

-- Stats count a subscription's deliveries discarded within a window; only discarded rows.
CREATE INDEX deliveries_discarded_idx ON deliveries (subscription_id, discarded_at)
    WHERE status = 'discarded';

-- A subscription's waiting deliveries that have a time they are due: retries, deliveries an
-- open circuit parked, and released held ones (each due at its place in the release's
-- stream). Pausing holds those through it, and a release paces itself on it, without reading
-- the subscription's whole history. A fresh pending delivery (next_attempt_at NULL) is not in
-- it, so ingest's inserts never touch it; such a delivery's envelope is on its way, and the
-- worker holds it when it arrives. The predicate also keeps the worker's statements off it:
-- they find deliveries by id and say `status IN ('pending', 'retrying')`, which a plain
-- waiting index matched; made while the table was nearly empty, their generic plans read the
-- whole index for every group of attempts (max: half the throughput). They never say
-- `next_attempt_at IS NOT NULL`.
CREATE INDEX deliveries_scheduled_idx ON deliveries (subscription_id, next_attempt_at)
    WHERE status IN ('pending', 'retrying') AND next_attempt_at IS NOT NULL;

-- Work the held sweeper (ingest/src/held.rs) has to do on a subscription's deliveries:
--   'hold'    it stopped: its pending and retrying deliveries become held;
--   'release' it was enabled with {"held": "deliver"}: held deliveries go back in line, paced
--             (while this lasts, new events for it are held too, behind the older ones);
--   'discard' it was enabled with {"held": "discard"}: held deliveries become discarded.
-- NULL: nothing to do. `held_sweep_since` says when it was set.
ALTER TABLE subscriptions ADD COLUMN held_sweep text;
ALTER TABLE subscriptions ADD COLUMN held_sweep_since timestamptz;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_held_sweep_check
    CHECK (held_sweep IN ('hold', 'release', 'discard'));

-- The sweeper reads the subscriptions with work to do on every tick: few, found by this.
CREATE INDEX subscriptions_held_sweep_idx ON subscriptions (id) WHERE held_sweep IS NOT NULL;
