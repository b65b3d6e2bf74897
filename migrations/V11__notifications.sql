-- Telling owners when a receiver is in trouble: where to tell them (channels), what they were
-- told (notifications, also the in-app list), each telling on its way to each channel (sends,
-- retried until they arrive or give up), and the throttle that keeps one troubled
-- subscription from causing a storm of messages.
--
-- Notifications are raised inside the transaction of what caused them (a breaker's
-- transition, a delivery's death) through `warren_notify`, so a change and the notification
-- about it commit together. `warren-ingest` sends what was raised; nothing is sent from
-- inside a transaction. The code matches on the constraint names below.

-- A v7 UUID (48 bits of Unix milliseconds, then random bits): ids made here sort by time like
-- the ones the services make, so lists page by id. PostgreSQL 15 has no `uuidv7()`.
CREATE FUNCTION warren_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

CREATE TABLE notification_channels (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL,
    name           text        NOT NULL,
    kind           text        NOT NULL,
    -- For `webhook` channels: where to POST, and the `whsec_` secret that signs each POST
    -- (needed in clear to sign; never logged, shown only to the owner).
    target_url     text,
    signing_secret text,
    -- For `email` channels: the address mails go to.
    email          text,
    -- The notification types this channel takes; empty means every type.
    types          text[]      NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_channels_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT notification_channels_kind_check CHECK (kind IN ('webhook', 'email')),
    -- Each kind has exactly what it needs to send, so the sender never meets half a channel.
    CONSTRAINT notification_channels_fields_check CHECK (
        CASE kind
            WHEN 'webhook' THEN target_url IS NOT NULL AND signing_secret IS NOT NULL AND email IS NULL
            WHEN 'email' THEN email IS NOT NULL AND target_url IS NULL AND signing_secret IS NULL
        END)
);

-- A user's channels, newest first (the list), and the channels a notification goes to.
CREATE INDEX notification_channels_user_id_idx ON notification_channels (user_id, id);

CREATE TABLE notifications (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL,
    -- The subscription it is about; NULL for `notification.test`. No foreign key: a
    -- notification outlives the subscription it tells of (deleting a subscription is often
    -- the answer to one), and keeps naming it.
    subscription_id uuid,
    type            text        NOT NULL,
    -- What happened, with `count`: how many occurrences this notification stands for (more
    -- than one when the throttle held some back).
    data            jsonb       NOT NULL,
    -- The subscription as it was when this was raised (`{"id", "name", "target_url"}`), for
    -- the webhook body and the mail's subject even once the subscription is renamed or gone.
    subscription    jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- When its owner marked it read; NULL while unread.
    read_at         timestamptz,
    -- Whether the live `notification` socket.io event went out (the sender emits each once).
    announced       boolean     NOT NULL DEFAULT false,
    CONSTRAINT notifications_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT notifications_type_check CHECK (type IN (
        'subscription.failing', 'subscription.circuit_opened', 'subscription.disabled',
        'subscription.recovered', 'delivery.dead', 'notification.test'))
);

-- The in-app list, newest first, and "mark read up to this one".
CREATE INDEX notifications_user_id_idx ON notifications (user_id, id);
-- The unread count shown with every page: only unread rows are in it.
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
-- The sender's scan for notifications whose live event has not gone out: almost always empty.
CREATE INDEX notifications_unannounced_idx ON notifications (id) WHERE NOT announced;

CREATE TABLE notification_sends (
    notification_id uuid        NOT NULL,
    channel_id      uuid        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    -- Tries made so far.
    attempts        integer     NOT NULL DEFAULT 0,
    -- When the next try is due. A sender that claims a send moves this a lease ahead, so a
    -- sender that dies mid-send leaves it to another once the lease runs out.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Why the last try failed (never a secret: an HTTP status, or the mail server's answer).
    last_error      text,
    sent_at         timestamptz,
    CONSTRAINT notification_sends_pkey PRIMARY KEY (notification_id, channel_id),
    CONSTRAINT notification_sends_notification_id_fkey FOREIGN KEY (notification_id) REFERENCES notifications (id) ON DELETE CASCADE,
    -- Deleting a channel drops what was still on its way to it.
    CONSTRAINT notification_sends_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES notification_channels (id) ON DELETE CASCADE,
    CONSTRAINT notification_sends_status_check CHECK (status IN ('pending', 'sent', 'failed'))
);

-- The sender's claim: pending sends by due time. Sent and failed ones leave the index.
CREATE INDEX notification_sends_due_idx ON notification_sends (next_attempt_at) WHERE status = 'pending';
-- Deleting a channel finds its sends.
CREATE INDEX notification_sends_channel_id_idx ON notification_sends (channel_id);

-- The throttle: at most one notification of a type for a subscription within the minimum
-- interval. What arrives sooner is counted in `held` (its data kept in `held_data`) and goes
-- out as a digest once `quiet_until` passes: with the next occurrence, or by the sender's
-- flush if none comes.
CREATE TABLE notification_throttles (
    subscription_id uuid        NOT NULL,
    type            text        NOT NULL,
    user_id         uuid        NOT NULL,
    quiet_until     timestamptz NOT NULL,
    held            integer     NOT NULL DEFAULT 0,
    held_data       jsonb,
    CONSTRAINT notification_throttles_pkey PRIMARY KEY (subscription_id, type),
    CONSTRAINT notification_throttles_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE
);

-- The sender's flush of digests that are due: only rows holding something back.
CREATE INDEX notification_throttles_due_idx ON notification_throttles (quiet_until) WHERE held > 0;

-- Subscriptions the periodic check found failing (at least 10 attempts in 15 min, under half
-- of them successful), so `subscription.failing` is raised when one starts failing, not on
-- every check while it goes on failing.
CREATE TABLE notification_failing (
    subscription_id uuid        PRIMARY KEY,
    since           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_failing_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES subscriptions (id) ON DELETE CASCADE
);

-- Stores a notification (with `data` as given) and one pending send per channel of the user
-- that takes its type, or only to `p_only_channel` when given (a channel's test). Returns its
-- id. No throttle: see `warren_notify`.
CREATE FUNCTION warren_notification(
    p_user uuid, p_subscription uuid, p_type text, p_data jsonb, p_only_channel uuid DEFAULT NULL
) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid := warren_uuid_v7();
BEGIN
    INSERT INTO notifications (id, user_id, subscription_id, type, data, subscription)
    VALUES (v_id, p_user, p_subscription, p_type, p_data,
            (SELECT jsonb_build_object('id', s.id, 'name', s.name, 'target_url', s.target_url)
             FROM subscriptions s WHERE s.id = p_subscription));
    INSERT INTO notification_sends (notification_id, channel_id)
    SELECT v_id, c.id FROM notification_channels c
    WHERE c.user_id = p_user
      AND (p_only_channel IS NULL OR c.id = p_only_channel)
      AND (p_only_channel IS NOT NULL OR cardinality(c.types) = 0 OR p_type = ANY (c.types));
    RETURN v_id;
END
$$;

-- Raises one occurrence of `p_type` about a subscription, in the caller's transaction:
-- a notification (with `data.count`, the occurrences it stands for) unless one of that type
-- went out for that subscription less than `p_min_interval` ago, in which case the occurrence
-- is held back and counted into the next one. Returns the notification's id, or NULL when
-- held back. The throttle row is locked for the rest of the caller's transaction.
CREATE FUNCTION warren_notify(
    p_user uuid, p_subscription uuid, p_type text, p_data jsonb, p_min_interval interval
) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_quiet_until timestamptz;
    v_held integer;
BEGIN
    IF p_subscription IS NULL THEN
        RETURN warren_notification(p_user, NULL, p_type, p_data || '{"count": 1}');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM subscriptions WHERE id = p_subscription) THEN
        -- Deleted meanwhile: nothing left to tell about.
        RETURN NULL;
    END IF;
    -- A row to lock, made once per subscription and type; then the lock serialises raisers.
    INSERT INTO notification_throttles (subscription_id, type, user_id, quiet_until)
    VALUES (p_subscription, p_type, p_user, '-infinity')
    ON CONFLICT ON CONSTRAINT notification_throttles_pkey DO NOTHING;
    SELECT quiet_until, held INTO v_quiet_until, v_held FROM notification_throttles
    WHERE subscription_id = p_subscription AND type = p_type FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_quiet_until > clock_timestamp() THEN
        UPDATE notification_throttles SET held = held + 1, held_data = p_data
        WHERE subscription_id = p_subscription AND type = p_type;
        RETURN NULL;
    END IF;
    UPDATE notification_throttles
    SET held = 0, held_data = NULL, quiet_until = clock_timestamp() + p_min_interval
    WHERE subscription_id = p_subscription AND type = p_type;
    RETURN warren_notification(p_user, p_subscription, p_type,
                               p_data || jsonb_build_object('count', v_held + 1));
END
$$;

-- Sends out, as one digest each, what the throttle held back where the interval has passed
-- with no new occurrence to carry it; returns how many digests it made. Several ingest
-- processes may run it at once: each takes rows the others have not locked.
CREATE FUNCTION warren_notify_flush(p_min_interval interval, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_row record;
    v_made integer := 0;
BEGIN
    FOR v_row IN
        SELECT subscription_id, type, user_id, held, held_data FROM notification_throttles
        WHERE held > 0 AND quiet_until <= clock_timestamp()
        ORDER BY quiet_until LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        UPDATE notification_throttles
        SET held = 0, held_data = NULL, quiet_until = clock_timestamp() + p_min_interval
        WHERE subscription_id = v_row.subscription_id AND type = v_row.type;
        PERFORM warren_notification(v_row.user_id, v_row.subscription_id, v_row.type,
                                    v_row.held_data || jsonb_build_object('count', v_row.held));
        v_made := v_made + 1;
    END LOOP;
    RETURN v_made;
END
$$;
