-- +goose Up
-- Cheaper stored answers (issue 11's keyed POST within 15% of the unkeyed
-- one): one 32-byte key compared bytewise instead of a primary key over four
-- text columns compared by collation, and a BRIN index for the purge instead
-- of a B-tree that every request wrote an entry into (rows arrive in
-- created_at order, so a block range summarises them well).
-- scope is idempotency.Scope.ID: the SHA-256 of caller, method, path and
-- key, each prefixed with its length in bytes and a colon (unambiguous
-- whatever the parts hold). Stored answers are carried over.
CREATE TABLE idempotency_answers (
    scope        bytea PRIMARY KEY,
    -- SHA-256 of the request body's canonical JSON.
    fingerprint  bytea NOT NULL,
    status       smallint NOT NULL,
    content_type text NOT NULL,
    location     text NOT NULL,
    etag         text NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO idempotency_answers (scope, fingerprint, status, content_type, location, etag, body, created_at)
SELECT sha256(convert_to(
           octet_length(caller) || ':' || caller || octet_length(method) || ':' || method ||
           octet_length(path) || ':' || path || octet_length(key) || ':' || key, 'UTF8')),
       fingerprint, status, content_type, location, etag, body, created_at
FROM idempotency_keys ORDER BY created_at;
DROP TABLE idempotency_keys;
-- The purge of expired answers; autosummarize keeps the ranges it skips summarised.
CREATE INDEX idempotency_answers_created_brin ON idempotency_answers USING brin (created_at) WITH (autosummarize = on);

-- The claim of a key (idempotency.Store.Run), sent in the same round trip as
-- the request's first statements: one statement that returns nothing when
-- the request may run, and raises otherwise — UIK09 when another request
-- holds the key's lock (in progress; the lock is tried, never waited for),
-- UIK22 when an answer of another request is stored, UIK00 when an answer of
-- this same request is (the caller then reads it, a replay). A raise aborts
-- the transaction, so the request's statements after it in that round trip
-- never run. Under READ COMMITTED the lookup, a statement of its own in this
-- VOLATILE function, takes its snapshot after the lock is held, so it sees an
-- answer committed by a first request that held the lock until just before.
-- An expired answer the purge has not reached yet is deleted here, under the
-- lock, so the answer is saved with a plain INSERT.
-- +goose StatementBegin
CREATE FUNCTION idempotency_claim(p_lock bigint, p_scope bytea, p_fingerprint bytea, p_retention interval)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    stored bytea;
    fresh boolean;
BEGIN
    IF NOT pg_try_advisory_xact_lock(p_lock) THEN
        RAISE EXCEPTION 'idempotency key in progress' USING ERRCODE = 'UIK09';
    END IF;
    SELECT a.fingerprint, a.created_at > now() - p_retention INTO stored, fresh
    FROM idempotency_answers a WHERE a.scope = p_scope;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT fresh THEN
        DELETE FROM idempotency_answers WHERE scope = p_scope;
        RETURN;
    END IF;
    IF stored <> p_fingerprint THEN
        RAISE EXCEPTION 'idempotency key used for another request' USING ERRCODE = 'UIK22';
    END IF;
    RAISE EXCEPTION 'idempotency key answered' USING ERRCODE = 'UIK00';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION IF EXISTS idempotency_claim(bigint, bytea, bytea, interval);
-- The scopes were hashed: the answers cannot be carried back, so a retry of
-- a request answered before the down step runs again.
DROP TABLE IF EXISTS idempotency_answers;
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    key          text NOT NULL,
    fingerprint  bytea NOT NULL,
    status       smallint NOT NULL,
    content_type text NOT NULL,
    location     text NOT NULL,
    etag         text NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, method, path, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
