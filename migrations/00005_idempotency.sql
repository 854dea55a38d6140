-- +goose Up
-- The answers of idempotent POSTs (CONTRACT §3 "Idempotent POSTs"), written
-- in the transaction of the request's effect and replayed for 24 hours. The
-- caller is a token's subject, not a reference to auth_users: an admin's
-- subject has no record there.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    key          text NOT NULL,
    -- SHA-256 of the request body's canonical JSON.
    fingerprint  bytea NOT NULL,
    status       smallint NOT NULL,
    content_type text NOT NULL,
    location     text NOT NULL,
    etag         text NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, method, path, key)
);
-- The purge of expired answers.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE IF EXISTS idempotency_keys;
