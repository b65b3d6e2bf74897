-- Protecting subscribers: the half-open circuit's probe.

-- Successful probes in a row while half-open; three close the circuit.
ALTER TABLE subscriptions ADD COLUMN consecutive_successes integer NOT NULL DEFAULT 0;

-- When the current half-open probe went out: one probe at a time; a probe that never
-- reported back (its worker died) is given up after a while.
ALTER TABLE subscriptions ADD COLUMN probe_started_at timestamptz;
