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

-- +goose Down
DROP TABLE IF EXISTS auth_user_tombstones;
DROP TABLE IF EXISTS auth_users;
