-- A delivery's event and an attempt's delivery are always written by the same statement as
-- the row they point at, or while holding it: ingest inserts an event with its deliveries,
-- the worker moves a delivery on and inserts its attempt together, and a replay locks its
-- event first (`FOR KEY SHARE`, what the foreign key took). Checking the two foreign keys
-- again cost a lookup, a row lock and its WAL record per row, run by a trigger per row:
-- about a quarter of the time of each of those statements. What the keys did on delete is
-- done here by statement-level triggers instead, once per deleting statement, on the rows it
-- deleted. The keys to users, sources and subscriptions stay: those rows can be deleted
-- while an event is on its way.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey;
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_delivery_id_fkey;

-- Deleting events (retention, or a user's erasure through events_user_id_fkey) deletes their
-- deliveries.
CREATE FUNCTION warren_events_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE event_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_deleted AFTER DELETE ON events
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION warren_events_deleted();

-- Deleting deliveries (with their events, or their subscription through
-- deliveries_subscription_id_fkey) deletes their attempts.
CREATE FUNCTION warren_deliveries_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_deleted AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION warren_deliveries_deleted();
