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
-- the request's first statements. idempotency_claim takes the key's lock
-- without waiting and raises UIK09 when another request holds it (in
-- progress), UIK22 when an answer of another request is stored; an answer of
-- the same request it returns, and idempotency_claimed, the statement after
-- it, then raises UIK00. A raise aborts the transaction, so the request's
-- statements after them in that round trip never run. Under READ COMMITTED
-- the lookup, a statement of its own in this VOLATILE function, takes its
-- snapshot after the lock is held, so it sees an answer committed by a first
-- request that held the lock until just before.
-- +goose StatementBegin
CREATE FUNCTION idempotency_claim(p_lock bigint, p_scope bytea, p_fingerprint bytea, p_retention interval)
RETURNS TABLE (status smallint, content_type text, location text, etag text, body bytea)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    a idempotency_answers;
BEGIN
    IF NOT pg_try_advisory_xact_lock(p_lock) THEN
        RAISE EXCEPTION 'idempotency key in progress' USING ERRCODE = 'UIK09';
    END IF;
    SELECT * INTO a FROM idempotency_answers WHERE scope = p_scope AND created_at > now() - p_retention;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF a.fingerprint <> p_fingerprint THEN
        RAISE EXCEPTION 'idempotency key used for another request' USING ERRCODE = 'UIK22';
    END IF;
    PERFORM set_config('usersvc.idempotency_answered', 'on', true);
    RETURN QUERY SELECT a.status, a.content_type, a.location, a.etag, a.body;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION idempotency_claimed() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF current_setting('usersvc.idempotency_answered', true) = 'on' THEN
        RAISE EXCEPTION 'idempotency key answered' USING ERRCODE = 'UIK00';
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION IF EXISTS idempotency_claimed();
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
