-- Batch delivery (issue 26): a subscription may take its JSON events in groups, one signed
-- request carrying up to `batch_max_events` of them, sent once that many are waiting or
-- `batch_max_wait_ms` after the first one arrived. Both NULL: one event per request.
-- The worker reads both with the subscription when it loads a delivery
-- (deliver/src/store.rs); the API shows them as `"batch": {"max_events", "max_wait_ms"}`.
ALTER TABLE subscriptions
    ADD COLUMN batch_max_events  integer,
    ADD COLUMN batch_max_wait_ms integer,
    -- Both or neither, within the API's ranges: a row the API could not have written is
    -- refused rather than delivered in a way nobody asked for.
    ADD CONSTRAINT subscriptions_batch_check CHECK (
        (batch_max_events IS NULL AND batch_max_wait_ms IS NULL)
        OR (batch_max_events BETWEEN 2 AND 500 AND batch_max_wait_ms BETWEEN 0 AND 60000));

-- The request an attempt travelled in when it was one of a batch (the receiver's
-- `webhook-id`); NULL for an attempt sent alone. Every attempt of one batch has the same
-- outcome, status and duration. Added to the partitioned parent, so every partition, present
-- and future, has it; nullable without a default, so no partition is rewritten.
ALTER TABLE delivery_attempts ADD COLUMN batch_id uuid;
