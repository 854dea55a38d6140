-- bench-seed.sql — the load run's data (scripts/bench.sh), built with
-- generate_series in a few statements: :users users u1…uN, each with :goals
-- goals, :badges badges and one check-in per goal (on the goal's own day:
-- goal g of a user was checked in g-1 days ago, so every user has a 10-day
-- streak), and the activity items those writes would have recorded.
-- Ids are explicit: goal g of user uN is (N-1)*:goals + g, check-in ids
-- equal goal ids, badge b of uN is (N-1)*:badges + b.
--   psql -v users=10000 -v goals=10 -v badges=5 -f scripts/bench-seed.sql DBURL
\set ON_ERROR_STOP on
-- Skip the per-row foreign-key triggers: the rows are consistent by construction.
SET session_replication_role = replica;
SET maintenance_work_mem = '512MB';

INSERT INTO auth_users (auth_user_id, username, email, created_at, updated_at)
SELECT 'u' || u, 'name' || u, 'u' || u || '@example.com', now() - interval '400 days', now() - interval '400 days'
FROM generate_series(1, :users) u;

INSERT INTO learning_goals (id, auth_user_id, title, description, status, streak_count, created_at, updated_at,
                            streak_set_on, streak_run_end, streak_run_days, longest_streak, last_check_in_on)
SELECT (u - 1) * :goals + g, 'u' || u, 'Goal ' || g || ' of user ' || u, 'Practise every day', 'in-progress', 0,
       now() - make_interval(days => g, secs => u % 3600), now() - make_interval(days => g - 1),
       current_date - 400, current_date - (g - 1), 1, 1, current_date - (g - 1)
FROM generate_series(1, :users) u, generate_series(1, :goals) g;

INSERT INTO badges (id, auth_user_id, name, description, date_achieved, created_at)
SELECT (u - 1) * :badges + b, 'u' || u, 'Badge ' || b, 'Earned by practice', now() - make_interval(days => 10 * b),
       now() - make_interval(days => 10 * b)
FROM generate_series(1, :users) u, generate_series(1, :badges) b;

INSERT INTO check_ins (id, goal_id, auth_user_id, occurred_at, local_date, timezone, utc_offset, minutes, note,
                       streak_count, longest_streak, created_at)
SELECT (u - 1) * :goals + g, (u - 1) * :goals + g, 'u' || u, (current_date - (g - 1)) + time '08:00', current_date - (g - 1),
       'UTC', 0, 25, '', 1, 1, (current_date - (g - 1)) + time '08:00'
FROM generate_series(1, :users) u, generate_series(1, :goals) g;

INSERT INTO user_streaks (auth_user_id, streak_run_end, streak_run_days, longest_streak)
SELECT 'u' || u, current_date, :goals, :goals FROM generate_series(1, :users) u;

INSERT INTO activity_items (auth_user_id, type, occurred_at, goal_id, title, created_at)
SELECT g.auth_user_id, 'goal.created', g.created_at, g.id, g.title, g.created_at FROM learning_goals g;
INSERT INTO activity_items (auth_user_id, type, occurred_at, badge_id, title, created_at)
SELECT b.auth_user_id, 'badge.awarded', b.date_achieved, b.id, b.name, b.created_at FROM badges b;
INSERT INTO activity_items (auth_user_id, type, occurred_at, goal_id, check_in_id, title, streak_count, local_date, minutes, created_at)
SELECT c.auth_user_id, 'goal.checked_in', c.occurred_at, c.goal_id, c.id, 'Goal', 1, c.local_date, c.minutes, c.created_at
FROM check_ins c;

SELECT setval(pg_get_serial_sequence('learning_goals', 'id'), (SELECT max(id) FROM learning_goals));
SELECT setval(pg_get_serial_sequence('badges', 'id'), (SELECT max(id) FROM badges));
SELECT setval(pg_get_serial_sequence('check_ins', 'id'), (SELECT max(id) FROM check_ins));
RESET session_replication_role;
VACUUM ANALYZE;
