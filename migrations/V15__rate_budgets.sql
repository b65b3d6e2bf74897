-- One rate limit however many workers (issue 24): a subscription's token bucket lives here,
-- shared by every warren-deliver process. A worker leases tokens from it a slice at a time
-- (one statement: refill by the time elapsed, take what it asks for, at most what is there)
-- and spends them from its memory, so PostgreSQL is touched once per lease, not once per
-- delivery. The bucket holds at most one second's worth of the rate (the burst).
--
-- A row is created by the first lease (full: a second's burst), so subscriptions never
-- delivered to have none. Its clock is the database's (`clock_timestamp()`), never a
-- worker's, so workers on machines whose clocks disagree still share one bucket.
CREATE TABLE rate_budgets (
    subscription_id  uuid             PRIMARY KEY,
    -- Tokens left at `refilled_at` (fractional: the refill is continuous).
    tokens           double precision NOT NULL,
    refilled_at      timestamptz      NOT NULL,
    -- While a target says it is overloaded (429, 502, 504) the rate is multiplied by this
    -- (halved by each such answer, down to 1/64) until `throttled_until`.
    factor           double precision NOT NULL DEFAULT 1,
    throttled_until  timestamptz,
    CONSTRAINT rate_budgets_subscription_id_fkey FOREIGN KEY (subscription_id)
        REFERENCES subscriptions (id) ON DELETE CASCADE,
    CONSTRAINT rate_budgets_factor_check CHECK (factor > 0 AND factor <= 1)
) WITH (fillfactor = 50);
-- fillfactor: every lease rewrites its row; room on the page keeps those updates HOT (no
-- index touched, the dead versions pruned in place).
