-- Operators (issue 23: the broker's queue depths are every tenant's, so only operators see
-- them; issue 24 builds on it). The first account on an instance is its operator; on an
-- instance that has accounts already, the earliest one becomes it.
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'user'
    CONSTRAINT users_role_check CHECK (role IN ('user', 'operator'));
UPDATE users SET role = 'operator'
WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1);
