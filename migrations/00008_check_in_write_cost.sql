-- +goose Up
-- What a check-in writes besides its rows (issue 10's performance target:
-- docs/performance.md "What a check-in costs"). Every cascade of CONTRACT §6
-- still happens; some now go along a longer path.

-- No query reads it: the relay's fetch walks outbox_events_pending_idx in id
-- order, and the cascade from auth_users uses outbox_events_user_idx.
DROP INDEX outbox_events_user_pending_idx;

-- A check-in and an activity item always belong to a goal (or, for an item,
-- a badge), and goals and badges go with their user: the user's cascade
-- reaches them through those. Their own foreign key to auth_users cost a
-- lookup and a row lock of the user at each insert and added nothing.
ALTER TABLE check_ins DROP CONSTRAINT check_ins_auth_user_id_fkey;
ALTER TABLE activity_items DROP CONSTRAINT activity_items_auth_user_id_fkey,
    ADD CONSTRAINT activity_items_subject_check CHECK (goal_id IS NOT NULL OR badge_id IS NOT NULL);

-- A check-in's activity item goes with the check-in by a trigger instead of
-- a foreign key: the item's insert no longer looks the check-in up and locks
-- it, and one index on (goal_id, check_in_id) serves both the goal's cascade
-- and this deletion.
ALTER TABLE activity_items DROP CONSTRAINT activity_items_check_in_id_fkey;
DROP INDEX activity_items_check_in_idx;
DROP INDEX activity_items_goal_idx;
CREATE INDEX activity_items_goal_idx ON activity_items (goal_id, check_in_id) WHERE goal_id IS NOT NULL;
-- +goose StatementBegin
CREATE FUNCTION check_ins_delete_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM activity_items WHERE goal_id = OLD.goal_id AND check_in_id = OLD.id;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER check_ins_delete_activity AFTER DELETE ON check_ins
    FOR EACH ROW EXECUTE FUNCTION check_ins_delete_activity();

-- One plan per statement of the function and connection: a custom plan
-- for each call cost more than the call's own work.
ALTER FUNCTION check_in_fast(bigint, text, timestamptz, timestamptz, text, integer, text, boolean,
    text, text, text, text, text) SET plan_cache_mode = force_generic_plan;

-- +goose Down
ALTER FUNCTION check_in_fast(bigint, text, timestamptz, timestamptz, text, integer, text, boolean,
    text, text, text, text, text) RESET plan_cache_mode;
DROP TRIGGER IF EXISTS check_ins_delete_activity ON check_ins;
DROP FUNCTION IF EXISTS check_ins_delete_activity();
DROP INDEX IF EXISTS activity_items_goal_idx;
CREATE INDEX activity_items_goal_idx ON activity_items (goal_id) WHERE goal_id IS NOT NULL;
CREATE INDEX activity_items_check_in_idx ON activity_items (check_in_id) WHERE check_in_id IS NOT NULL;
ALTER TABLE activity_items DROP CONSTRAINT IF EXISTS activity_items_subject_check,
    ADD CONSTRAINT activity_items_check_in_id_fkey FOREIGN KEY (check_in_id) REFERENCES check_ins (id) ON DELETE CASCADE,
    ADD CONSTRAINT activity_items_auth_user_id_fkey FOREIGN KEY (auth_user_id) REFERENCES auth_users (auth_user_id) ON DELETE CASCADE;
ALTER TABLE check_ins
    ADD CONSTRAINT check_ins_auth_user_id_fkey FOREIGN KEY (auth_user_id) REFERENCES auth_users (auth_user_id) ON DELETE CASCADE;
CREATE INDEX outbox_events_user_pending_idx ON outbox_events (auth_user_id, id) INCLUDE (xid) WHERE published_at IS NULL;
