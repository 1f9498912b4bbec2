-- The admin console (`serve --admin-console`): signed-in browsers. The cookie carries a random id,
-- the table only its SHA-256. Shared by every relay on the database. See migrations/0005.
CREATE TABLE console_sessions (
    id_hash      text PRIMARY KEY,
    token_id     bigint NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    created_at   timestamptz(3) NOT NULL,
    last_seen_at timestamptz(3) NOT NULL,
    expires_at   timestamptz(3) NOT NULL,
    ends_at      timestamptz(3) NOT NULL
);

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

CREATE INDEX events_by_revision ON events (roid, id);
CREATE INDEX deliveries_dead ON deliveries (dead_at) WHERE state = 'dead';

-- Failed attempts since the service's last success; a success sets 0.
ALTER TABLE services ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
