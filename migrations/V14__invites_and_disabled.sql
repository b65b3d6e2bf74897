-- An instance its operator controls (issue 24): operators disable accounts and invite people.

-- When an operator disabled the account; NULL while it is enabled. Nothing of a disabled user
-- is deleted: its sessions and API keys stop authenticating (the lookups join on this), its
-- sources stop taking events, and enabling it again brings all of it back. A nullable column
-- with no default rewrites nothing.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- An invitation to sign up with one email, made by an operator. The token is shown once at
-- creation and stored as SHA-256, like API keys; signup finds the invite by that hash.
CREATE TABLE invites (
    id         uuid        PRIMARY KEY,
    -- Lower-cased by the service, like users.email: signup must use this email.
    email      text        NOT NULL,
    token_hash bytea       NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set, in the signup's own transaction, when the invite is used: it is good once.
    used_at    timestamptz,
    used_by    uuid,
    -- Signup looks an invite up by this.
    CONSTRAINT invites_token_hash_key UNIQUE (token_hash),
    -- An invite outlives neither the operator who made it nor the account it made, but the
    -- record of it does: the link is cleared, the row stays.
    CONSTRAINT invites_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL,
    -- Deferred: signup marks the invite used before it stores the account, so a signup
    -- without a good invite is refused before it can tell whether the email is taken.
    CONSTRAINT invites_used_by_fkey FOREIGN KEY (used_by) REFERENCES users (id) ON DELETE SET NULL
        DEFERRABLE INITIALLY DEFERRED
);

-- The admin lists of subscriptions in trouble (every tenant's, newest first): few rows are
-- ever open or half-open, so a partial index keeps the list cheap however many are closed.
CREATE INDEX subscriptions_circuit_idx ON subscriptions (circuit_state, id)
    WHERE circuit_state <> 'closed';
