-- +goose Up
-- One local reference per auth-service user (CONTRACT §6). The id is the
-- auth-service's opaque string id.
CREATE TABLE IF NOT EXISTS auth_users (
    auth_user_id  text PRIMARY KEY
                  CONSTRAINT auth_users_id_format CHECK (auth_user_id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'),
    email         text,
    username      text,
    -- occurred_at of the last event applied; older events change nothing.
    last_event_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A deleted user stays deleted (CONTRACT §1): only a UserCreated that
-- happened after deleted_at brings the id back.
CREATE TABLE IF NOT EXISTS auth_user_tombstones (
    auth_user_id text PRIMARY KEY,
    deleted_at   timestamptz NOT NULL
);

-- Progress of `usersvc backfill-auth-users` (modules/authref/backfill.go), so
-- that an interrupted run resumes where it stopped instead of starting over.
-- One run at a time (an advisory lock), so at most one row. UNLOGGED: a crash
-- empties both tables together and the next run simply starts afresh.
CREATE UNLOGGED TABLE IF NOT EXISTS auth_user_backfill_progress (
    singleton  boolean PRIMARY KEY DEFAULT true CONSTRAINT auth_user_backfill_progress_singleton CHECK (singleton),
    source     text NOT NULL,           -- which source, without credentials; another source starts afresh
    next_key   text NOT NULL DEFAULT '', -- the source's cursor after the last batch written
    created    bigint NOT NULL DEFAULT 0,
    updated    bigint NOT NULL DEFAULT 0,
    unchanged  bigint NOT NULL DEFAULT 0,
    skipped    bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every id the source listed during the run; references not among them are
-- orphans. No key: appending is cheaper, and a duplicate changes nothing.
CREATE UNLOGGED TABLE IF NOT EXISTS auth_user_backfill_seen (
    auth_user_id text NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS auth_user_backfill_seen;
DROP TABLE IF EXISTS auth_user_backfill_progress;
DROP TABLE IF EXISTS auth_user_tombstones;
DROP TABLE IF EXISTS auth_users;
