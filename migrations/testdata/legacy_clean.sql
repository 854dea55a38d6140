-- The shared database before the split (CONTRACT §6), clean: every row obeys
-- the new schema's rules. 300 users, about 2,700 badges and 3,600 goals, ids
-- with gaps, NULLs, non-ASCII text, microsecond timestamps, text over the
-- API's limits, and sequences that went past the highest row.
CREATE TABLE users (
    id              serial PRIMARY KEY,
    email           varchar(255),
    username        varchar(100),
    hashed_password varchar(255) NOT NULL,
    created_at      timestamp NOT NULL DEFAULT now()
);
CREATE TABLE badges (
    id            serial PRIMARY KEY,
    user_id       integer REFERENCES users (id),
    name          varchar(300),
    description   text,
    icon_url      varchar(3000),
    date_achieved timestamp
);
CREATE INDEX badges_user_id_idx ON badges (user_id);
CREATE TABLE learning_goals (
    id           serial PRIMARY KEY,
    user_id      integer REFERENCES users (id),
    title        varchar(300),
    description  text,
    status       varchar(50),
    streak_count integer
);

-- user k has id 3k + k%2: gaps, and ids that are not the row number.
INSERT INTO users (id, email, username, hashed_password, created_at)
SELECT 3 * k + k % 2,
       CASE WHEN k % 13 = 0 THEN NULL ELSE 'user' || k || '@example.org' END,
       CASE WHEN k % 17 = 0 THEN NULL WHEN k % 5 = 0 THEN 'Jürgen_' || k || '_日本' ELSE 'user' || k END,
       '$2b$12$not-a-real-hash-' || k,
       timestamp '2019-03-01 12:00:00' + k * interval '1 hour 1.234567 seconds'
FROM generate_series(1, 300) k;
SELECT setval('users_id_seq', 2000);

INSERT INTO badges (id, user_id, name, description, icon_url, date_achieved)
SELECT 3 * g + g % 2,
       3 * (g % 290 + 1) + (g % 290 + 1) % 2, -- users 291..300 have no badges
       CASE WHEN g % 500 = 0 THEN repeat('Ä', 120) || ' ' || g
            WHEN g % 7 = 0 THEN 'Überflieger ✓ ' || g
            ELSE 'Badge ' || g END,
       CASE WHEN g % 700 = 0 THEN repeat('long ', 300) WHEN g % 4 = 0 THEN NULL ELSE 'Earned on day ' || g END,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'https://cdn.example.org/badges/' || g || '.png' END,
       CASE WHEN g % 50 = 0 THEN NULL ELSE timestamp '2021-01-01' + g * interval '17 minutes 3.000123 seconds' END
FROM generate_series(1, 3000) g;
DELETE FROM badges WHERE id % 11 = 0;
-- The sequence went further than the highest row (rows deleted at the end).
SELECT setval('badges_id_seq', (SELECT max(id) + 50 FROM badges));

INSERT INTO learning_goals (id, user_id, title, description, status, streak_count)
SELECT 3 * g + 1,
       3 * (g % 280 + 1) + (g % 280 + 1) % 2,
       CASE WHEN g % 600 = 0 THEN repeat('Ω', 250) WHEN g % 9 = 0 THEN 'Lerne Go — 日本語 ' || g ELSE 'Goal ' || g END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'Why: ' || g END,
       CASE g % 6 WHEN 0 THEN NULL WHEN 1 THEN 'not-started' WHEN 2 THEN 'in-progress' WHEN 3 THEN 'completed'
                  WHEN 4 THEN 'abandoned' ELSE 'in-progress' END,
       CASE WHEN g % 8 = 0 THEN NULL WHEN g % 1000 = 0 THEN 1000000 ELSE g % 400 END
FROM generate_series(1, 4000) g;
DELETE FROM learning_goals WHERE id % 10 = 0;
SELECT setval('learning_goals_id_seq', (SELECT max(id) FROM learning_goals));
