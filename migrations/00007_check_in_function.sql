-- +goose Up
-- A check-in in one round trip (issue 10's performance target). Each
-- function here is one module's write, callable from SQL by another's: a
-- module's function may call outbox_record and activity_record as its Go
-- code calls outbox.Queue and activity.Queue.

-- outbox_record is outbox.insertSQL for SQL callers: the user's event lock
-- first, so that the ids of one user's events follow their commits.
-- +goose StatementBegin
CREATE FUNCTION outbox_record(p_user_id text, p_routing_key text, p_event_type text, p_data json)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1869574002, hashtext(p_user_id));
    INSERT INTO outbox_events (auth_user_id, routing_key, event_type, data)
    VALUES (p_user_id, p_routing_key, p_event_type, p_data);
END $$;
-- +goose StatementEnd

-- activity_record is activity.insertSQL for SQL callers.
-- +goose StatementBegin
CREATE FUNCTION activity_record(p_user_id text, p_type text, p_occurred_at timestamptz, p_goal_id bigint,
    p_badge_id bigint, p_check_in_id bigint, p_title text, p_streak_count integer, p_local_date date, p_minutes integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO activity_items
        (auth_user_id, type, occurred_at, goal_id, badge_id, check_in_id, title, streak_count, local_date, minutes)
    VALUES (p_user_id, p_type, p_occurred_at, p_goal_id, p_badge_id, p_check_in_id, p_title, p_streak_count,
        p_local_date, p_minutes);
END $$;
-- +goose StatementEnd

-- check_in_extend folds a check-in on date d (offset p_offset) into a run
-- state (run_end, run_days, longest) without reading history, for the cases
-- that need at most one earlier offset (the rules: modules/goals/streak):
--   no active day yet, or d after run_end: d ends the run, which it extends
--     when it is the next date or, across the date line, when it was made at
--     least 24 h per skipped date east of run_end's last check-in
--     (p_prev_last, NULL when that day has no check-in);
--   d = run_end, when an earlier check-in of that day exists
--     (p_same_day_earlier): the day's first offset stays, nothing changes.
-- Anything else (an earlier date, a new first check-in of the last day)
-- returns NULL: the caller recomputes from the history.
-- +goose StatementBegin
CREATE FUNCTION check_in_extend(run_end date, run_days integer, longest integer, d date, p_offset integer,
    p_prev_last integer, p_same_day_earlier boolean, OUT new_end date, OUT new_days integer, OUT new_longest integer)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF run_end IS NULL THEN
        new_end := d; new_days := 1;
    ELSIF d = run_end THEN
        IF NOT coalesce(p_same_day_earlier, false) THEN
            RETURN; -- all NULL
        END IF;
        new_end := run_end; new_days := run_days;
    ELSIF d = run_end + 1
        OR (d > run_end + 1 AND p_prev_last IS NOT NULL AND p_offset - p_prev_last >= (d - run_end - 1) * 86400) THEN
        new_end := d; new_days := run_days + 1;
    ELSIF d > run_end THEN
        new_end := d; new_days := 1;
    ELSE
        RETURN; -- an earlier date
    END IF;
    new_longest := greatest(longest, new_days);
END $$;
-- +goose StatementEnd

-- check_in_fast records a check-in when that is the common case, in the
-- caller's (often implicit) transaction, and returns what the response
-- needs. It returns no row, having written nothing, when the Go path must
-- decide instead: an unknown goal or user, a closed goal, a date older than
-- yesterday without p_history, or a date the rules cannot fold in without
-- the history (check_in_extend). Same locks in the same order as the Go
-- path: the goal row, the user's streak row, the user's event lock.
-- p_user_json and p_note_json are the JSON strings of the user id and the
-- note as the API writes them (Go's encoder), so the event's check_in is
-- the response body byte for byte.
-- +goose StatementBegin
CREATE FUNCTION check_in_fast(p_goal_id bigint, p_user_id text, p_now timestamptz, p_occurred_at timestamptz,
    p_timezone text, p_minutes integer, p_note text, p_history boolean,
    p_activity_type text, p_routing_key text, p_event_type text, p_user_json text, p_note_json text,
    OUT id bigint, OUT local_date date, OUT timezone text, OUT streak_count integer, OUT longest_streak integer,
    OUT created_at timestamptz)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
    g record;
    u record;
    zone text;
    off integer;
    today date;
    prev_last integer;
    earlier boolean;
    gs record;
    us record;
BEGIN
    SELECT lg.status, lg.title, lg.streak_count AS base_days, lg.streak_set_on AS base_on, lg.streak_run_end,
           lg.streak_run_days, lg.longest_streak, lg.last_check_in_on,
           coalesce(s.timezone, 'UTC') AS settings_zone, coalesce(s.day_start_hour, 0) AS day_start_hour
    INTO g
    FROM learning_goals lg LEFT JOIN user_settings s ON s.auth_user_id = lg.auth_user_id
    WHERE lg.id = p_goal_id AND lg.auth_user_id = p_user_id
    FOR UPDATE OF lg;
    IF NOT FOUND OR g.status IN ('completed', 'abandoned') THEN
        RETURN;
    END IF;
    zone := coalesce(p_timezone, g.settings_zone);
    local_date := ((p_occurred_at AT TIME ZONE zone) - make_interval(hours => g.day_start_hour))::date;
    IF NOT p_history AND local_date < ((p_now AT TIME ZONE zone) - make_interval(hours => g.day_start_hour))::date - 1 THEN
        RETURN;
    END IF;
    off := extract(epoch FROM (p_occurred_at AT TIME ZONE zone) - (p_occurred_at AT TIME ZONE 'UTC'))::integer;

    -- The goal's state before: without a check-in, the hand-written base alone.
    IF g.last_check_in_on IS NULL THEN
        g.streak_run_end := CASE WHEN g.base_days > 0 THEN g.base_on END;
        g.streak_run_days := greatest(g.base_days, 0);
        g.longest_streak := greatest(g.base_days, 0);
    END IF;
    -- Only the check-ins of one date are looked at; their occurred_at lies
    -- within a few days of it (UTC offsets stay within ±16 h), which keeps
    -- the lookup on the (goal_id, occurred_at) index.
    IF local_date > g.streak_run_end + 1 THEN
        SELECT c.utc_offset INTO prev_last FROM check_ins c
        WHERE c.goal_id = p_goal_id AND c.local_date = g.streak_run_end
          AND c.occurred_at >= (g.streak_run_end - 3)::timestamp AT TIME ZONE 'UTC'
          AND c.occurred_at < (g.streak_run_end + 4)::timestamp AT TIME ZONE 'UTC'
        ORDER BY c.occurred_at DESC, c.id DESC LIMIT 1;
    ELSIF local_date = g.streak_run_end THEN
        earlier := EXISTS (SELECT FROM check_ins c
            WHERE c.goal_id = p_goal_id AND c.local_date = g.streak_run_end
              AND c.occurred_at >= (g.streak_run_end - 3)::timestamp AT TIME ZONE 'UTC'
              AND c.occurred_at <= p_occurred_at);
    END IF;
    SELECT * INTO gs FROM check_in_extend(g.streak_run_end, g.streak_run_days, g.longest_streak, local_date, off, prev_last, earlier);
    IF gs.new_end IS NULL THEN
        RETURN;
    END IF;

    -- The user's own streak, locked (created on the first check-in).
    SELECT us_.streak_run_end, us_.streak_run_days, us_.longest_streak INTO u
    FROM user_streaks us_ WHERE us_.auth_user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO user_streaks AS us_ (auth_user_id) VALUES (p_user_id)
        ON CONFLICT (auth_user_id) DO UPDATE SET streak_run_days = us_.streak_run_days
        RETURNING us_.streak_run_end, us_.streak_run_days, us_.longest_streak INTO u;
    END IF;
    prev_last := NULL;
    earlier := NULL;
    IF local_date > u.streak_run_end + 1 THEN
        SELECT c.utc_offset INTO prev_last FROM check_ins c
        WHERE c.auth_user_id = p_user_id AND c.local_date = u.streak_run_end
        ORDER BY c.occurred_at DESC, c.id DESC LIMIT 1;
    ELSIF local_date = u.streak_run_end THEN
        earlier := EXISTS (SELECT FROM check_ins c
            WHERE c.auth_user_id = p_user_id AND c.local_date = u.streak_run_end AND c.occurred_at <= p_occurred_at);
    END IF;
    SELECT * INTO us FROM check_in_extend(u.streak_run_end, u.streak_run_days, u.longest_streak, local_date, off, prev_last, earlier);
    IF us.new_end IS NULL THEN
        RETURN; -- the user's row was only locked: nothing written
    END IF;

    -- What a read of the goal shows now, in the user's current settings.
    today := ((p_now AT TIME ZONE g.settings_zone) - make_interval(hours => g.day_start_hour))::date;
    streak_count := CASE WHEN gs.new_end >= today - 1 THEN gs.new_days ELSE 0 END;
    longest_streak := greatest(gs.new_longest, streak_count);
    timezone := zone;

    INSERT INTO check_ins AS c
        (goal_id, auth_user_id, occurred_at, local_date, timezone, utc_offset, minutes, note, streak_count, longest_streak)
    VALUES (p_goal_id, p_user_id, p_occurred_at, check_in_fast.local_date, zone, off, p_minutes, p_note,
        check_in_fast.streak_count, check_in_fast.longest_streak)
    RETURNING c.id, c.created_at INTO id, created_at;
    UPDATE learning_goals SET
        streak_run_end = gs.new_end, streak_run_days = gs.new_days, longest_streak = gs.new_longest,
        last_check_in_on = greatest(last_check_in_on, check_in_fast.local_date),
        status = CASE WHEN status = 'not-started' THEN 'in-progress' ELSE status END,
        updated_at = now(), version = version + 1
    WHERE learning_goals.id = p_goal_id;
    UPDATE user_streaks SET streak_run_end = us.new_end, streak_run_days = us.new_days, longest_streak = us.new_longest
    WHERE auth_user_id = p_user_id;
    PERFORM activity_record(p_user_id, p_activity_type, p_occurred_at, p_goal_id, NULL, id, g.title,
        check_in_fast.streak_count, check_in_fast.local_date, p_minutes);
    PERFORM outbox_record(p_user_id, p_routing_key, p_event_type, (
        '{"auth_user_id":' || p_user_json || ',"check_in":{"id":' || id || ',"goal_id":' || p_goal_id ||
        ',"auth_user_id":' || p_user_json ||
        ',"occurred_at":"' || to_char(p_occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ||
        '","local_date":"' || to_char(check_in_fast.local_date, 'YYYY-MM-DD') ||
        '","timezone":' || to_json(zone) || ',"minutes":' || coalesce(p_minutes::text, 'null') ||
        ',"note":' || p_note_json || ',"streak_count":' || check_in_fast.streak_count ||
        ',"longest_streak":' || check_in_fast.longest_streak ||
        ',"created_at":"' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"}}')::json);
    RETURN NEXT;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION IF EXISTS check_in_fast(bigint, text, timestamptz, timestamptz, text, integer, text, boolean,
    text, text, text, text, text);
DROP FUNCTION IF EXISTS check_in_extend(date, integer, integer, date, integer, integer, boolean);
DROP FUNCTION IF EXISTS activity_record(text, text, timestamptz, bigint, bigint, bigint, text, integer, date, integer);
DROP FUNCTION IF EXISTS outbox_record(text, text, text, json);
