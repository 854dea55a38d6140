-- +goose Up
-- The transactional outbox of the events usersvc publishes (CONTRACT §4b):
-- a change writes its event here in its own transaction; the relay in
-- `usersvc consume` publishes committed rows and marks them.
CREATE TABLE outbox_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    -- A deleted user's unpublished events go with the user.
    auth_user_id text NOT NULL REFERENCES auth_users (auth_user_id) ON DELETE CASCADE,
    routing_key  text NOT NULL,
    event_type   text NOT NULL,
    data         json NOT NULL, -- json, not jsonb: the bytes the API would send
    -- The writing transaction: the relay reads only rows of transactions
    -- below its snapshot's horizon, so a transaction still open is never passed.
    xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
-- What the relay reads: unpublished rows in id order, and per user.
CREATE INDEX outbox_events_pending_idx ON outbox_events (id) INCLUDE (xid, auth_user_id) WHERE published_at IS NULL;
CREATE INDEX outbox_events_user_pending_idx ON outbox_events (auth_user_id, id) INCLUDE (xid) WHERE published_at IS NULL;
-- The purge of published rows, and the cascade from auth_users.
CREATE INDEX outbox_events_published_idx ON outbox_events (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_events_user_idx ON outbox_events (auth_user_id);

-- Wakes the relay at commit (notifications are delivered only then, and
-- one per transaction is enough: identical ones are folded).
-- +goose StatementBegin
CREATE FUNCTION outbox_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_events', '');
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_events_notify();

-- +goose Down
DROP TABLE IF EXISTS outbox_events;
DROP FUNCTION IF EXISTS outbox_events_notify();
