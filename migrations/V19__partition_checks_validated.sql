-- Time partitions, step 2 of 3: the CHECKs of V18 are validated. Each validation scans its
-- table under SHARE UPDATE EXCLUSIVE, which lets reads and writes go on. The keys of the
-- events stored before V18 are copied into `event_idempotency_keys` (read through the old
-- partial unique index: only keyed events).
ALTER TABLE events VALIDATE CONSTRAINT events_legacy_range;
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_legacy_range;
ALTER TABLE delivery_attempts VALIDATE CONSTRAINT delivery_attempts_legacy_range;

INSERT INTO event_idempotency_keys (idempotency_scope, idempotency_key, event_id)
SELECT idempotency_scope, idempotency_key, id FROM events WHERE idempotency_key IS NOT NULL
ON CONFLICT DO NOTHING;
