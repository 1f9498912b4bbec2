-- The admin console (`serve --admin-console`). A session is what a browser holds after signing in
-- with an admin token: the cookie carries a random id, the table only its SHA-256, so a copy of the
-- database opens no session. A session lasts while its token stays a live admin token, until it
-- expires (idle) or its absolute end, or until its browser signs out. In the table, not in the
-- relay's memory: behind a load balancer every relay on the database knows it.
CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY,
    token_id     INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    -- Idle expiry, moved on as the session is used; never past ends_at.
    expires_at   TEXT NOT NULL,
    ends_at      TEXT NOT NULL
) STRICT;

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- The console's delivery filter by revision (by project uses events_by_project).
CREATE INDEX events_by_revision ON events (roid, id);
-- Dead letters by when they died: the console's last hour, `queue retry --dead --since`. Partial:
-- written only when a delivery dies.
CREATE INDEX deliveries_dead ON deliveries (dead_at) WHERE state = 'dead';

-- Failed attempts since the service's last success (the console's Services page); a success sets 0.
ALTER TABLE services ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
