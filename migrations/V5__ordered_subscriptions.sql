-- Ordered (FIFO) subscriptions: PostgreSQL holds the order (docs/ordering.md).

-- The next sequence number of each FIFO subscription. A table of its own, so taking a
-- number (a row lock held until the creating transaction commits, which makes sequence
-- order commit order) never waits on the worker's circuit-breaker updates of the
-- subscription row.
CREATE TABLE fifo_sequences (
    subscription_id uuid   PRIMARY KEY,
    next_seq        bigint NOT NULL,
    CONSTRAINT fifo_sequences_subscription_id_fkey FOREIGN KEY (subscription_id)
        REFERENCES subscriptions (id) ON DELETE CASCADE
);

-- A delivery's place in its FIFO subscription's line; NULL for unordered deliveries.
ALTER TABLE deliveries ADD COLUMN fifo_seq bigint;

-- The head of a line: the first waiting delivery of the subscription by sequence.
CREATE INDEX deliveries_fifo_line_idx ON deliveries (subscription_id, fifo_seq)
    WHERE fifo_seq IS NOT NULL AND status IN ('pending', 'retrying');

-- A FIFO subscription with `on_dead = 'pause'` stops when its head goes dead, until that
-- delivery is replayed or discarded.
ALTER TABLE subscriptions ADD COLUMN fifo_paused_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN fifo_paused_by uuid;
