-- bench-seed.sql — the load run's data (scripts/bench.sh), built with
-- generate_series in a few statements: :users users u1…uN, each with :goals
-- goals, :badges badges and one check-in per goal (on the goal's own day:
-- goal g of a user was checked in g-1 days ago, so every user has a 10-day
-- streak), and the activity items those writes would have recorded. Every
-- user has a settings row holding the defaults (UTC, days starting at
-- midnight: the same answers as without one), as after a settings page had
-- been saved; an empty user_settings would be read by a sequential scan.
-- Ids are explicit: goal g of user uN is (N-1)*:goals + g, check-in ids
-- equal goal ids, badge b of uN is (N-1)*:badges + b.
--   psql -v users=10000 -v goals=10 -v badges=5 -f scripts/bench-seed.sql DBURL
--
-- A schema from before the tracker (no check_ins table: a binary older than
-- migration 00003, as bench-compare.sh may run) gets the same users, goals
-- and badges and none of the tracker's rows.
--
-- Fast at a million users (10 M goals, 5 M badges, 10 M check-ins, 25 M
-- activity items): one transaction truncates the tables (new, empty files:
-- under wal_level = minimal, which bench.sh sets for the seed, nothing
-- written to them goes through the WAL and the files are synced at COMMIT),
-- drops their secondary indexes, fills the tables and builds the indexes
-- again by sorting, which is much cheaper than maintaining them row by row.
--
-- Rows are written in time order, as a service would have written them: the
-- outer loop is the day, the inner one the users (LATERAL keeps that order).
-- So one user's goals, badges and activity items lie on different heap pages,
-- as in a real table, not side by side.
\set ON_ERROR_STOP on
-- Skip the per-row foreign-key triggers: the rows are consistent by construction.
SET session_replication_role = replica;
SET maintenance_work_mem = '1GB';
SET client_min_messages = warning;
SELECT to_regclass('check_ins') IS NOT NULL AS tracker \gset

BEGIN;
-- CASCADE: the tracker's tables too, all of which reference these.
TRUNCATE auth_users, learning_goals, badges CASCADE;

-- Every index of these tables that no constraint needs (primary keys stay:
-- foreign keys depend on them).
CREATE TEMP TABLE seed_indexes ON COMMIT DROP AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i
WHERE i.indrelid IN (SELECT to_regclass(t) FROM unnest(ARRAY['auth_users', 'learning_goals', 'badges',
                                                         'check_ins', 'user_streaks', 'activity_items']) t)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT name FROM seed_indexes LOOP
        EXECUTE 'DROP INDEX ' || r.name;
    END LOOP;
END $$;

INSERT INTO auth_users (auth_user_id, username, email, created_at, updated_at)
SELECT 'u' || u, 'name' || u, 'u' || u || '@example.com', now() - interval '400 days', now() - interval '400 days'
FROM generate_series(1, :users) u;

\if :tracker
INSERT INTO user_settings (auth_user_id, timezone, day_start_hour, updated_at)
SELECT 'u' || u, 'UTC', 0, now() - interval '400 days' FROM generate_series(1, :users) u;
\endif

INSERT INTO badges (id, auth_user_id, name, description, date_achieved, created_at)
SELECT (u - 1) * :badges + b, 'u' || u, 'Badge ' || b, 'Earned by practice', now() - make_interval(days => 10 * b),
       now() - make_interval(days => 10 * b)
FROM generate_series(:badges, 1, -1) b CROSS JOIN LATERAL generate_series(1, :users + 0 * b) u;

\if :tracker
INSERT INTO learning_goals (id, auth_user_id, title, description, status, streak_count, created_at, updated_at,
                            streak_set_on, streak_run_end, streak_run_days, longest_streak, last_check_in_on)
SELECT (u - 1) * :goals + g, 'u' || u, 'Goal ' || g || ' of user ' || u, 'Practise every day', 'in-progress', 0,
       now() - make_interval(days => g, secs => u % 3600), now() - make_interval(days => g - 1),
       current_date - 400, current_date - (g - 1), 1, 1, current_date - (g - 1)
FROM generate_series(:goals, 1, -1) g CROSS JOIN LATERAL generate_series(1, :users + 0 * g) u;
\else
INSERT INTO learning_goals (id, auth_user_id, title, description, status, streak_count, created_at, updated_at)
SELECT (u - 1) * :goals + g, 'u' || u, 'Goal ' || g || ' of user ' || u, 'Practise every day', 'in-progress', 0,
       now() - make_interval(days => g, secs => u % 3600), now() - make_interval(days => g - 1)
FROM generate_series(:goals, 1, -1) g CROSS JOIN LATERAL generate_series(1, :users + 0 * g) u;
\endif

\if :tracker
INSERT INTO check_ins (id, goal_id, auth_user_id, occurred_at, local_date, timezone, utc_offset, minutes, note,
                       streak_count, longest_streak, created_at)
SELECT (u - 1) * :goals + g, (u - 1) * :goals + g, 'u' || u, (current_date - (g - 1)) + time '08:00', current_date - (g - 1),
       'UTC', 0, 25, '', 1, 1, (current_date - (g - 1)) + time '08:00'
FROM generate_series(:goals, 1, -1) g CROSS JOIN LATERAL generate_series(1, :users + 0 * g) u;

INSERT INTO user_streaks (auth_user_id, streak_run_end, streak_run_days, longest_streak)
SELECT 'u' || u, current_date, :goals, :goals FROM generate_series(1, :users) u;

-- The activity items, all kinds merged in time order: each step is one kind
-- of write on one day, done by every user; the same values as the rows above.
INSERT INTO activity_items (auth_user_id, type, occurred_at, goal_id, badge_id, check_in_id, title,
                            streak_count, local_date, minutes, created_at)
SELECT 'u' || u, s.type,
       CASE s.type WHEN 'badge.awarded' THEN now() - make_interval(days => 10 * s.n)
                   WHEN 'goal.created' THEN now() - make_interval(days => s.n, secs => u % 3600)
                   ELSE (current_date - (s.n - 1)) + time '08:00' END AS at,
       CASE WHEN s.type <> 'badge.awarded' THEN (u - 1) * :goals + s.n END,
       CASE WHEN s.type = 'badge.awarded' THEN (u - 1) * :badges + s.n END,
       CASE WHEN s.type = 'goal.checked_in' THEN (u - 1) * :goals + s.n END,
       CASE s.type WHEN 'badge.awarded' THEN 'Badge ' || s.n
                   WHEN 'goal.created' THEN 'Goal ' || s.n || ' of user ' || u
                   ELSE 'Goal' END,
       CASE WHEN s.type = 'goal.checked_in' THEN 1 END,
       CASE WHEN s.type = 'goal.checked_in' THEN current_date - (s.n - 1) END,
       CASE WHEN s.type = 'goal.checked_in' THEN 25 END,
       CASE s.type WHEN 'badge.awarded' THEN now() - make_interval(days => 10 * s.n)
                   WHEN 'goal.created' THEN now() - make_interval(days => s.n, secs => u % 3600)
                   ELSE (current_date - (s.n - 1)) + time '08:00' END
FROM (SELECT * FROM (
          SELECT 'badge.awarded' AS type, b AS n, 10 * b AS days_ago, 0 AS rank FROM generate_series(1, :badges) b
          UNION ALL SELECT 'goal.created', g, g, 1 FROM generate_series(1, :goals) g
          UNION ALL SELECT 'goal.checked_in', g, g - 1, 2 FROM generate_series(1, :goals) g) steps
      ORDER BY days_ago DESC, rank OFFSET 0) s
CROSS JOIN LATERAL generate_series(1, :users + 0 * s.n) u;
SELECT setval(pg_get_serial_sequence('check_ins', 'id'), (SELECT max(id) FROM check_ins));
\endif

SELECT setval(pg_get_serial_sequence('learning_goals', 'id'), (SELECT max(id) FROM learning_goals));
SELECT setval(pg_get_serial_sequence('badges', 'id'), (SELECT max(id) FROM badges));

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT def FROM seed_indexes LOOP
        EXECUTE r.def;
    END LOOP;
END $$;
COMMIT;
RESET session_replication_role;
-- Hint bits and the visibility map (index-only scans), and the planner's statistics.
VACUUM ANALYZE;
