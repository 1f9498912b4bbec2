-- bimrelay schema, version 1.
--
-- Conventions (see docs/operations.md):
-- * Timestamps are UTC text in SQLite's own format, '2026-11-22 08:30:00.123', so that
--   `sqlite3` shows them readably and compares them with `<`, `>` and datetime('now').
-- * Booleans are INTEGER 0/1 with a CHECK.
-- * Ids that leave the relay (events, deliveries, topics, endpoints) use AUTOINCREMENT so that a
--   deleted row's id is never handed out again (a receiver dedupes on it, a client resumes on it).
-- * Every table is STRICT: a wrong type is an error, not a silent conversion.

-- Applied migrations. The runner reads MAX(version) to know where the file stands and refuses a
-- database whose version is newer than the binary.
CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
) STRICT;

-- Relay credentials. Only the SHA-256 of a token is stored; `prefix` (the first characters of the
-- token) lets an admin tell tokens apart in `token list` without revealing them.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('producer', 'client', 'admin')),
    -- NULL: every project. Otherwise a comma-separated list of BIMserver project oids (poid).
    projects     TEXT,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;

-- Registered external services (BIMserver's SServiceDescriptor plus delivery settings).
CREATE TABLE services (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier             TEXT NOT NULL UNIQUE,
    name                   TEXT NOT NULL,
    url                    TEXT NOT NULL,
    -- Comma-separated STrigger names: NEW_REVISION, NEW_PROJECT, NEW_EXTENDED_DATA.
    triggers               TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    provider_name          TEXT NOT NULL DEFAULT '',
    company_url            TEXT NOT NULL DEFAULT '',
    token_url              TEXT NOT NULL DEFAULT '',
    new_profile_url        TEXT NOT NULL DEFAULT '',
    register_url           TEXT NOT NULL DEFAULT '',
    authorize_url          TEXT NOT NULL DEFAULT '',
    read_revision          INTEGER NOT NULL DEFAULT 0 CHECK (read_revision IN (0, 1)),
    read_extended_data     TEXT NOT NULL DEFAULT '',
    write_revision         INTEGER NOT NULL DEFAULT 0 CHECK (write_revision IN (0, 1)),
    write_extended_data    TEXT NOT NULL DEFAULT '',
    -- The interface name put in delivered bodies: the service may predate 2016.
    notification_interface TEXT NOT NULL DEFAULT 'RemoteServiceInterface'
        CHECK (notification_interface IN ('RemoteServiceInterface', 'Bimsie1RemoteServiceInterface')),
    -- The `userToken` this service gave its user; forwarded in every delivery, so kept as is.
    user_token             TEXT NOT NULL DEFAULT '',
    -- Standard Webhooks signing secret (whsec_…); needed in clear to sign.
    signing_secret         TEXT NOT NULL,
    exact_url              INTEGER NOT NULL DEFAULT 0 CHECK (exact_url IN (0, 1)),
    ordered                INTEGER NOT NULL DEFAULT 0 CHECK (ordered IN (0, 1)),
    max_in_flight          INTEGER NOT NULL DEFAULT 8 CHECK (max_in_flight > 0),
    timeout_ms             INTEGER NOT NULL DEFAULT 15000 CHECK (timeout_ms > 0),
    -- Delays before attempts 2, 3, … as written on the command line ('5s,5m,30m'); NULL: default.
    retry_schedule         TEXT,
    enabled                INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    disabled_reason        TEXT,
    disabled_at            TEXT,
    last_success_at        TEXT,
    -- Set at the first failure after a success, cleared by a success: drives auto-disable.
    failing_since          TEXT,
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
) STRICT;

-- SProfileDescriptor rows a service offers (getPublicProfiles / getPrivateProfiles).
CREATE TABLE profiles (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id     INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    identifier     TEXT NOT NULL,
    name           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    public_profile INTEGER NOT NULL DEFAULT 1 CHECK (public_profile IN (0, 1)),
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    UNIQUE (service_id, identifier)
) STRICT;

-- One row per accepted RemoteServiceInterface call (newRevision, newExtendedDataOn…).
CREATE TABLE events (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    method             TEXT NOT NULL,
    poid               INTEGER,
    roid               INTEGER,
    edid               INTEGER,
    soid               INTEGER,
    -- As received: a registered identifier or the relay's fan-out identifier.
    service_identifier TEXT NOT NULL,
    profile_identifier TEXT,
    -- BIMserver's API token and URL, forwarded so the service can call back.
    token              TEXT,
    api_url            TEXT,
    producer_token_id  INTEGER REFERENCES tokens (id) ON DELETE SET NULL,
    received_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
) STRICT;

CREATE INDEX events_by_project ON events (poid, id);

-- The outbox: one row per (event, target service).
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    service_id       INTEGER NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    -- Standard Webhooks `webhook-id`: the same for every attempt of this delivery.
    webhook_id       TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead', 'paused')),
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    lease_expires_at TEXT,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    delivered_at     TEXT,
    dead_at          TEXT
) STRICT;

-- The claim query runs per service: that service's due pending rows in due order. Partial, so
-- delivered history does not bloat it and a backlog of a million rows costs a range scan.
CREATE INDEX deliveries_due ON deliveries (service_id, next_attempt_at, id) WHERE state = 'pending';
-- Lease rescue: in-flight rows whose lease has run out.
CREATE INDEX deliveries_leased ON deliveries (lease_expires_at) WHERE state = 'in_flight';
-- Per-service views, ordered delivery (the oldest open delivery of a service) and `queue list`.
CREATE INDEX deliveries_by_service ON deliveries (service_id, state, id);
CREATE INDEX deliveries_by_event ON deliveries (event_id);
-- Retention of delivered rows.
CREATE INDEX deliveries_delivered ON deliveries (delivered_at) WHERE state = 'delivered';

-- Every HTTP attempt of a delivery, successful or not.
CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    started_at    TEXT NOT NULL,
    duration_ms   REAL NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    status_code   INTEGER,
    -- timeout, connection, http_status, exception_envelope, redirect, …
    error_class   TEXT,
    error         TEXT,
    -- The first 4 KB of the response body.
    response_body TEXT
) STRICT;

CREATE INDEX attempts_by_delivery ON attempts (delivery_id, attempt);

-- Idempotency-Key header values of ingest requests and the answer first given.
CREATE TABLE idempotency_keys (
    key        TEXT PRIMARY KEY,
    response   TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
) STRICT;

-- Progress topics (NotificationRegistryInterface.registerProgress…Topic). The id is the topicId.
CREATE TABLE topics (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- SProgressTopicType: DOWNLOAD, UPLOAD, RUNNING_SERVICE, BRANCH.
    type             TEXT NOT NULL,
    scope            TEXT NOT NULL CHECK (scope IN ('server', 'project', 'revision')),
    poid             INTEGER,
    roid             INTEGER,
    description      TEXT NOT NULL DEFAULT '',
    owner_token_id   INTEGER REFERENCES tokens (id) ON DELETE SET NULL,
    -- The latest SLongActionState as JSON (what getProgress returns); NULL before the first update.
    latest_state     TEXT,
    state_updated_at TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    closed_at        TEXT
) STRICT;

CREATE INDEX topics_by_scope ON topics (scope, poid, roid);

-- WebSocket endpoints. They outlive their socket for the retention window so a client can resume.
CREATE TABLE endpoints (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id        INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    user            TEXT NOT NULL,
    -- The highest seq given to a frame of this endpoint (seq is never reused).
    last_seq        INTEGER NOT NULL DEFAULT 0,
    -- The highest seq written to the socket; a token-only reconnect resumes after it.
    sent_seq        INTEGER NOT NULL DEFAULT 0,
    connected       INTEGER NOT NULL DEFAULT 0 CHECK (connected IN (0, 1)),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    connected_at    TEXT,
    disconnected_at TEXT
) STRICT;

CREATE INDEX endpoints_by_token ON endpoints (token_id, disconnected_at);
CREATE INDEX endpoints_disconnected ON endpoints (disconnected_at) WHERE connected = 0;

-- What an endpoint registered for (the register…Handler / registerChangeProgressOn… calls).
CREATE TABLE subscriptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    -- progress, new_revision, new_revision_on_project, new_extended_data_on_revision, new_project,
    -- new_user, change_progress_on_server, change_progress_on_project, change_progress_on_revision
    kind        TEXT NOT NULL,
    topic_id    INTEGER REFERENCES topics (id) ON DELETE CASCADE,
    poid        INTEGER,
    roid        INTEGER,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
) STRICT;

-- NULLs are distinct in a UNIQUE constraint, so the uniqueness is over ifnull()ed expressions.
CREATE UNIQUE INDEX subscriptions_unique
    ON subscriptions (endpoint_id, kind, ifnull(topic_id, 0), ifnull(poid, 0), ifnull(roid, 0));
-- Fan-out: who listens to this topic / project / revision.
CREATE INDEX subscriptions_by_target ON subscriptions (kind, topic_id, poid, roid);

-- Frames pushed (or to push) to an endpoint, kept for replay after a reconnect.
CREATE TABLE stream_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    method      TEXT NOT NULL,
    -- The `request` object of the frame as JSON; the frame is {"seq": seq, "request": payload}.
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    UNIQUE (endpoint_id, seq)
) STRICT;

CREATE INDEX stream_messages_by_age ON stream_messages (created_at);

-- Deliveries per service and state, for `sqlite3 bimrelay.sqlite 'select * from queue_overview'`.
CREATE VIEW queue_overview AS
SELECT s.identifier          AS service,
       d.state               AS state,
       count(*)              AS deliveries,
       min(d.created_at)     AS oldest,
       min(d.next_attempt_at) AS next_attempt_at
FROM deliveries d
JOIN services s ON s.id = d.service_id
GROUP BY s.identifier, d.state
ORDER BY s.identifier, d.state;

-- Deliveries that ran out of attempts, with what happened last.
CREATE VIEW dead_letters AS
SELECT d.id            AS delivery_id,
       s.identifier    AS service,
       e.method        AS method,
       e.poid          AS poid,
       e.roid          AS roid,
       d.webhook_id    AS webhook_id,
       d.attempt_count AS attempts,
       d.last_status   AS last_status,
       d.last_error    AS last_error,
       d.created_at    AS created_at,
       d.dead_at       AS dead_at
FROM deliveries d
JOIN services s ON s.id = d.service_id
JOIN events e ON e.id = d.event_id
WHERE d.state = 'dead'
ORDER BY d.dead_at DESC;
