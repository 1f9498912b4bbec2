-- bimrelay schema for PostgreSQL 15, version 1: what the SQLite migrations 0001_initial.sql …
-- 0004_token_origin.sql build together, in one file (same tables, columns, constraints, indexes and
-- views, with the same names).
--
-- Differences from the SQLite schema:
-- * Ids are `bigint GENERATED ALWAYS AS IDENTITY`: like AUTOINCREMENT, a sequence never hands out
--   the id of a deleted row again. `topics.id` is `BY DEFAULT`: in gateway mode the relay inserts
--   explicit topic ids above a floor (PostgresTopics.create moves the sequence past them).
-- * Times are `timestamptz(3)`: instants at millisecond resolution, the resolution of SQLite's text
--   times (the relay binds times rounded to the millisecond, and the column rounds `DEFAULT now()`),
--   so that a stored time compares with the relay's clock as it did in SQLite. psql shows them in
--   the session's time zone; SQLite's text was UTC.
-- * Flags are `boolean` instead of INTEGER 0/1 with a CHECK; REAL is `double precision`; INTEGER is
--   `bigint` for ids, BIMserver oids, seqs and milliseconds, `integer` for small counts and codes.
-- * `user` is a reserved word in PostgreSQL: the columns keep the name, so queries quote it ("user").
-- * `subscriptions_unique` stays an expression index over coalesce()d columns (SQLite's ifnull()):
--   NULL and 0 count as the same target, which NULLS NOT DISTINCT would not do.
-- * `idempotency_keys` is the table as 0002 left it; `endpoints.generation` (0003) and
--   `tokens.origin` (0004) are declared in their tables.
-- * No STRICT: PostgreSQL's columns are typed anyway.
-- * The views sort as SQLite did: text by byte (COLLATE "C", SQLite's BINARY), NULLs last in DESC.

-- Applied migrations. The runner reads MAX(version) to know where the database stands and refuses a
-- database whose version is newer than the binary.
CREATE TABLE schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz(3) NOT NULL DEFAULT now()
);

-- Relay credentials. Only the SHA-256 of a token is stored; `prefix` (the first characters of the
-- token) lets an admin tell tokens apart in `token list` without revealing them.
CREATE TABLE tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "user"       text NOT NULL,
    role         text NOT NULL CHECK (role IN ('producer', 'client', 'admin')),
    -- NULL: every project. Otherwise a comma-separated list of BIMserver project oids (poid).
    projects     text,
    token_hash   text NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_at   timestamptz(3) NOT NULL DEFAULT now(),
    last_used_at timestamptz(3),
    revoked_at   timestamptz(3),
    -- Where a credential comes from. `relay`: issued by `bimrelay token issue`, the only tokens the
    -- relay accepts on its own word. In gateway mode (`--upstream`) BIMserver's tokens are accepted
    -- too, after BIMserver confirms them: `bimserver` rows are its users' tokens, `callback` rows the
    -- tokens BIMserver minted for services. `token_hash` is the token's SHA-256 and `prefix` the
    -- hash's first characters, so nothing of a BIMserver token is stored.
    origin       text NOT NULL DEFAULT 'relay' CHECK (origin IN ('relay', 'bimserver', 'callback'))
);

-- Registered external services (BIMserver's SServiceDescriptor plus delivery settings).
CREATE TABLE services (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identifier             text NOT NULL UNIQUE,
    name                   text NOT NULL,
    url                    text NOT NULL,
    -- Comma-separated STrigger names: NEW_REVISION, NEW_PROJECT, NEW_EXTENDED_DATA.
    triggers               text NOT NULL,
    description            text NOT NULL DEFAULT '',
    provider_name          text NOT NULL DEFAULT '',
    company_url            text NOT NULL DEFAULT '',
    token_url              text NOT NULL DEFAULT '',
    new_profile_url        text NOT NULL DEFAULT '',
    register_url           text NOT NULL DEFAULT '',
    authorize_url          text NOT NULL DEFAULT '',
    read_revision          boolean NOT NULL DEFAULT false,
    read_extended_data     text NOT NULL DEFAULT '',
    write_revision         boolean NOT NULL DEFAULT false,
    write_extended_data    text NOT NULL DEFAULT '',
    -- The interface name put in delivered bodies: the service may predate 2016.
    notification_interface text NOT NULL DEFAULT 'RemoteServiceInterface'
        CHECK (notification_interface IN ('RemoteServiceInterface', 'Bimsie1RemoteServiceInterface')),
    -- The `userToken` this service gave its user; forwarded in every delivery, so kept as is.
    user_token             text NOT NULL DEFAULT '',
    -- Standard Webhooks signing secret (whsec_…); needed in clear to sign.
    signing_secret         text NOT NULL,
    exact_url              boolean NOT NULL DEFAULT false,
    ordered                boolean NOT NULL DEFAULT false,
    max_in_flight          integer NOT NULL DEFAULT 8 CHECK (max_in_flight > 0),
    timeout_ms             bigint NOT NULL DEFAULT 15000 CHECK (timeout_ms > 0),
    -- Delays before attempts 2, 3, … as written on the command line ('5s,5m,30m'); NULL: default.
    retry_schedule         text,
    enabled                boolean NOT NULL DEFAULT true,
    disabled_reason        text,
    disabled_at            timestamptz(3),
    last_success_at        timestamptz(3),
    -- Set at the first failure after a success, cleared by a success: drives auto-disable.
    failing_since          timestamptz(3),
    created_at             timestamptz(3) NOT NULL DEFAULT now(),
    updated_at             timestamptz(3) NOT NULL DEFAULT now()
);

-- SProfileDescriptor rows a service offers (getPublicProfiles / getPrivateProfiles).
CREATE TABLE profiles (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service_id     bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    identifier     text NOT NULL,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    public_profile boolean NOT NULL DEFAULT true,
    created_at     timestamptz(3) NOT NULL DEFAULT now(),
    UNIQUE (service_id, identifier)
);

-- One row per accepted RemoteServiceInterface call (newRevision, newExtendedDataOn…).
CREATE TABLE events (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    method             text NOT NULL,
    poid               bigint,
    roid               bigint,
    edid               bigint,
    soid               bigint,
    -- As received: a registered identifier or the relay's fan-out identifier.
    service_identifier text NOT NULL,
    profile_identifier text,
    -- BIMserver's API token and URL, forwarded so the service can call back.
    token              text,
    api_url            text,
    producer_token_id  bigint REFERENCES tokens (id) ON DELETE SET NULL,
    received_at        timestamptz(3) NOT NULL DEFAULT now()
);

CREATE INDEX events_by_project ON events (poid, id);

-- The outbox: one row per (event, target service).
CREATE TABLE deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    service_id       bigint NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    -- Standard Webhooks `webhook-id`: the same for every attempt of this delivery.
    webhook_id       text NOT NULL UNIQUE,
    state            text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead', 'paused')),
    attempt_count    integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz(3) NOT NULL DEFAULT now(),
    lease_expires_at timestamptz(3),
    last_status      integer,
    last_error       text,
    created_at       timestamptz(3) NOT NULL DEFAULT now(),
    updated_at       timestamptz(3) NOT NULL DEFAULT now(),
    delivered_at     timestamptz(3),
    dead_at          timestamptz(3)
);

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
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    started_at    timestamptz(3) NOT NULL,
    duration_ms   double precision NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    status_code   integer,
    -- timeout, connection, http_status, exception_envelope, redirect, …
    error_class   text,
    error         text,
    -- The first 4 KB of the response body.
    response_body text
);

CREATE INDEX attempts_by_delivery ON attempts (delivery_id, attempt);

-- Idempotency-Key header values of ingest requests and the answer first given. A key belongs to the
-- token that used it and to the request it came with.
CREATE TABLE idempotency_keys (
    -- The authenticated token that used the key (a key of one token means nothing to another).
    token_id   bigint NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    key        text NOT NULL,
    -- SHA-256 (hex) of the request body: the same key with another body is refused.
    body_hash  text NOT NULL,
    response   text NOT NULL,
    created_at timestamptz(3) NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- Progress topics (NotificationRegistryInterface.registerProgress…Topic). The id is the topicId.
CREATE TABLE topics (
    id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    -- SProgressTopicType: DOWNLOAD, UPLOAD, RUNNING_SERVICE, BRANCH.
    type             text NOT NULL,
    scope            text NOT NULL CHECK (scope IN ('server', 'project', 'revision')),
    poid             bigint,
    roid             bigint,
    description      text NOT NULL DEFAULT '',
    owner_token_id   bigint REFERENCES tokens (id) ON DELETE SET NULL,
    -- The latest SLongActionState as JSON (what getProgress returns); NULL before the first update.
    latest_state     text,
    state_updated_at timestamptz(3),
    created_at       timestamptz(3) NOT NULL DEFAULT now(),
    closed_at        timestamptz(3)
);

CREATE INDEX topics_by_scope ON topics (scope, poid, roid);

-- WebSocket endpoints. They outlive their socket for the retention window so a client can resume.
CREATE TABLE endpoints (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_id        bigint NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    "user"          text NOT NULL,
    -- The highest seq given to a frame of this endpoint (seq is never reused).
    last_seq        bigint NOT NULL DEFAULT 0,
    -- The highest seq written to the socket; a token-only reconnect resumes after it.
    sent_seq        bigint NOT NULL DEFAULT 0,
    connected       boolean NOT NULL DEFAULT false,
    created_at      timestamptz(3) NOT NULL DEFAULT now(),
    connected_at    timestamptz(3),
    disconnected_at timestamptz(3),
    -- Which connection of the endpoint is current: a client resuming on a new socket while the old
    -- one is still open bumps it, and the old socket's close then changes nothing.
    generation      bigint NOT NULL DEFAULT 0
);

CREATE INDEX endpoints_by_token ON endpoints (token_id, disconnected_at);
CREATE INDEX endpoints_disconnected ON endpoints (disconnected_at) WHERE NOT connected;

-- What an endpoint registered for (the register…Handler / registerChangeProgressOn… calls).
CREATE TABLE subscriptions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id bigint NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    -- progress, new_revision, new_revision_on_project, new_extended_data_on_revision, new_project,
    -- new_user, change_progress_on_server, change_progress_on_project, change_progress_on_revision
    kind        text NOT NULL,
    topic_id    bigint REFERENCES topics (id) ON DELETE CASCADE,
    poid        bigint,
    roid        bigint,
    created_at  timestamptz(3) NOT NULL DEFAULT now()
);

-- NULLs are distinct in a UNIQUE constraint, so the uniqueness is over coalesce()d expressions.
CREATE UNIQUE INDEX subscriptions_unique
    ON subscriptions (endpoint_id, kind, coalesce(topic_id, 0), coalesce(poid, 0), coalesce(roid, 0));
-- Fan-out: who listens to this topic / project / revision.
CREATE INDEX subscriptions_by_target ON subscriptions (kind, topic_id, poid, roid);

-- Frames pushed (or to push) to an endpoint, kept for replay after a reconnect.
CREATE TABLE stream_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id bigint NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    method      text NOT NULL,
    -- The `request` object of the frame as JSON; the frame is {"seq": seq, "request": payload}.
    payload     text NOT NULL,
    created_at  timestamptz(3) NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, seq)
);

CREATE INDEX stream_messages_by_age ON stream_messages (created_at);

-- Deliveries per service and state, for `psql -c 'select * from queue_overview'`.
CREATE VIEW queue_overview AS
SELECT s.identifier           AS service,
       d.state                AS state,
       count(*)               AS deliveries,
       min(d.created_at)      AS oldest,
       min(d.next_attempt_at) AS next_attempt_at
FROM deliveries d
JOIN services s ON s.id = d.service_id
GROUP BY s.identifier, d.state
ORDER BY s.identifier COLLATE "C", d.state COLLATE "C";

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
ORDER BY d.dead_at DESC NULLS LAST;
