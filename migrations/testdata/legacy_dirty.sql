-- The shared database with rows that break the new schema's rules: statuses
-- outside the enum, badge names equal under lower(), streaks out of range, a
-- NULL title and a NULL badge name; plus clean rows around them.
CREATE TABLE users (id serial PRIMARY KEY, email varchar(255), username varchar(100), hashed_password varchar(255));
CREATE TABLE badges (id serial PRIMARY KEY, user_id integer REFERENCES users (id), name varchar(100),
                     description text, icon_url varchar(500), date_achieved timestamp);
CREATE TABLE learning_goals (id serial PRIMARY KEY, user_id integer REFERENCES users (id), title varchar(200),
                             description text, status varchar(50), streak_count integer);
INSERT INTO users (id, email, username, hashed_password)
SELECT k, 'u' || k || '@example.org', 'u' || k, 'x' FROM generate_series(1, 5) k;

INSERT INTO badges (id, user_id, name, date_achieved) VALUES
    (10, 1, 'Gold', '2022-01-01 00:00:00.000001'),
    (11, 1, 'gold', '2022-01-02'),
    (12, 1, 'GOLD', '2022-01-03'),
    (13, 1, 'gold (2)', '2022-01-04'),
    (14, 1, 'Silver', '2022-01-05'),
    (20, 2, 'Straße', '2022-02-01'),
    (21, 2, 'STRASSE', '2022-02-02'),  -- not equal under lower(): stays
    (22, 2, 'straße', '2022-02-03'),
    (30, 3, NULL, '2022-03-01'),
    (31, 3, 'untitled badge', '2022-03-02'),
    (40, 4, 'Gold', '2022-04-01');     -- another user's Gold: fine

INSERT INTO learning_goals (id, user_id, title, status, streak_count) VALUES
    (1, 1, 'a', 'Done', 1), (2, 1, 'b', 'complete', 2), (3, 1, 'c', 'FINISHED', 3),
    (4, 1, 'd', 'In Progress', 4), (5, 1, 'e', 'in_progress', 5), (6, 1, 'f', 'inprogress', 6),
    (7, 1, 'g', 'Active', 7), (8, 1, 'h', 'started', 8),
    (9, 2, 'i', 'not_started', 9), (10, 2, 'j', 'TODO', 10), (11, 2, 'k', 'new', 11), (12, 2, 'l', 'pending', 12),
    (13, 2, 'm', 'cancelled', 13), (14, 2, 'n', 'Dropped', 14), (15, 2, 'o', 'Abandoned', 15),
    (16, 3, 'p', 'weird', 16), (17, 3, 'q', '', 17), (18, 3, 'r', '  completed ', 18),
    (19, 3, 's', 'completed', -1), (20, 3, 't', 'in-progress', 1000001), (21, 3, 'u', 'not-started', 2147483647),
    (22, 4, NULL, 'abandoned', 0), (23, 4, 'ok', 'in-progress', 1000000), (24, 4, 'ok too', NULL, NULL);
