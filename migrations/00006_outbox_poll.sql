-- +goose Up
-- The relay finds new events by polling (every 250 ms when idle, at once
-- while there is a backlog) instead of being woken by a NOTIFY from every
-- writing transaction: a transaction that notifies holds PostgreSQL's
-- notification-queue lock from its pre-commit until its end, so all of them
-- committed (and waited for their WAL flush) one at a time. Dropping the
-- trigger made a durable goal creation ~3x cheaper under load
-- (docs/performance.md).
DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events;
DROP FUNCTION IF EXISTS outbox_events_notify();

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION outbox_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_events', '');
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_events_notify();
