-- Finding deliveries whose envelope the broker lost after confirming it (a wiped node, a
-- restored database): waiting, marked enqueued, and long overdue. Only waiting deliveries
-- are in this index; the sweep reads its oldest entries.
CREATE INDEX deliveries_overdue_idx ON deliveries ((coalesce(next_attempt_at, updated_at)))
    WHERE enqueued AND status IN ('pending', 'retrying');
