-- Idempotency keys belong to the token that used them and to the request they came with.
-- Keys were global, looked up before authentication and not tied to the body: an unauthenticated
-- request could claim a key and have the producer's real call answered with its reply. The
-- keys stored so far are dropped (they only guard retries within the retention window).
DROP TABLE idempotency_keys;

CREATE TABLE idempotency_keys (
    -- The authenticated token that used the key (a key of one token means nothing to another).
    token_id   INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    -- SHA-256 (hex) of the request body: the same key with another body is refused.
    body_hash  TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    PRIMARY KEY (token_id, key)
) STRICT;

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
