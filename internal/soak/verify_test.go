package soak

import (
	"context"
	"fmt"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var psql = sq.StatementBuilder.PlaceholderFormat(sq.Dollar)

// query runs q and calls scan for each row.
func query(ctx context.Context, pool *pgxpool.Pool, q sq.SelectBuilder, scan func(pgx.Rows) error) error {
	sql, args, err := q.ToSql()
	if err != nil {
		return err
	}
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// verifyWrites compares the database with the workers' ledger. A row the
// ledger holds that is missing or holds other values is "lost" (an
// acknowledged create, update or delete whose effect is not there); a row
// the ledger does not hold is "duplicated" (every write whose outcome was
// unknown was repeated, POSTs with their Idempotency-Key, until it was
// known, so an extra row can only be a write applied twice).
func verifyWrites(ctx context.Context, pool *pgxpool.Pool, workers []*worker, rec *recorder) error {
	users := map[string]*user{}
	for _, w := range workers {
		for _, u := range w.users {
			users[u.id] = u
		}
	}
	soakUsers := sq.Like{"auth_user_id": "soak-%"}
	seenGoals := map[int64]bool{}
	err := query(ctx, pool, psql.Select("id", "auth_user_id", "title", "description", "status").From("learning_goals").Where(soakUsers),
		func(r pgx.Rows) error {
			var id int64
			var owner, title, description, status string
			if err := r.Scan(&id, &owner, &title, &description, &status); err != nil {
				return err
			}
			seenGoals[id] = true
			g := users[owner].goals[id]
			switch {
			case g == nil:
				rec.violate("duplicated", "goal %d of %s (%q) was never acknowledged or was deleted", id, owner, title)
			case g.title != title || g.description != description || g.status != status:
				rec.violate("lost", "goal %d of %s: %q/%q/%s, acknowledged %q/%q/%s", id, owner, title, description, status, g.title, g.description, g.status)
			}
			return nil
		})
	if err != nil {
		return err
	}
	seenCheckIns := map[int64]bool{}
	err = query(ctx, pool, psql.Select("id", "goal_id", "auth_user_id", "coalesce(minutes, 0)", "note").From("check_ins").Where(soakUsers),
		func(r pgx.Rows) error {
			var id, goal int64
			var owner, note string
			var minutes int
			if err := r.Scan(&id, &goal, &owner, &minutes, &note); err != nil {
				return err
			}
			seenCheckIns[id] = true
			var c checkInRow
			ok := false
			if g := users[owner].goals[goal]; g != nil {
				c, ok = g.checkIns[id]
			}
			switch {
			case !ok:
				rec.violate("duplicated", "check-in %d on goal %d of %s (%q) was never acknowledged or was deleted", id, goal, owner, note)
			case c.minutes != minutes || c.note != note:
				rec.violate("lost", "check-in %d: %d/%q, acknowledged %d/%q", id, minutes, note, c.minutes, c.note)
			}
			return nil
		})
	if err != nil {
		return err
	}
	seenBadges := map[int64]bool{}
	err = query(ctx, pool, psql.Select("id", "auth_user_id", "name", "description").From("badges").Where(soakUsers),
		func(r pgx.Rows) error {
			var id int64
			var owner, name, description string
			if err := r.Scan(&id, &owner, &name, &description); err != nil {
				return err
			}
			seenBadges[id] = true
			b, ok := users[owner].badges[id]
			switch {
			case !ok:
				rec.violate("duplicated", "badge %d of %s (%q) was never acknowledged", id, owner, name)
			case b.name != name || b.description != description:
				rec.violate("lost", "badge %d: %q/%q, acknowledged %q/%q", id, name, description, b.name, b.description)
			}
			return nil
		})
	if err != nil {
		return err
	}
	zones := map[string]string{}
	err = query(ctx, pool, psql.Select("auth_user_id", "timezone").From("user_settings").Where(soakUsers),
		func(r pgx.Rows) error {
			var owner, tz string
			if err := r.Scan(&owner, &tz); err != nil {
				return err
			}
			zones[owner] = tz
			return nil
		})
	if err != nil {
		return err
	}
	for _, u := range users {
		for id, g := range u.goals {
			if !seenGoals[id] {
				rec.violate("lost", "goal %d of %s (%q) acknowledged, not in the database", id, u.id, g.title)
			}
			for cid := range g.checkIns {
				if !seenCheckIns[cid] {
					rec.violate("lost", "check-in %d on goal %d of %s acknowledged, not in the database", cid, id, u.id)
				}
			}
		}
		for id, b := range u.badges {
			if !seenBadges[id] {
				rec.violate("lost", "badge %d of %s (%q) acknowledged, not in the database", id, u.id, b.name)
			}
		}
		if u.timezone != "" && zones[u.id] != u.timezone {
			rec.violate("lost", "settings of %s: timezone %q, acknowledged %q", u.id, zones[u.id], u.timezone)
		}
	}
	return nil
}

// eventProblems compares the references and tombstones with the confirmed
// events: a live user present with its last username, a deleted one absent
// and tombstoned. Each problem is a lost event (a reference is unique by its
// key, so an event applied twice cannot show as a second row).
func eventProblems(ctx context.Context, pool *pgxpool.Pool, expected map[string]authUser) ([]string, error) {
	names := map[string]string{}
	err := query(ctx, pool, psql.Select("auth_user_id", "coalesce(username, '')").From("auth_users").
		Where(sq.Or{sq.Like{"auth_user_id": "ev-%"}, sq.Like{"auth_user_id": "sentinel-%"}}),
		func(r pgx.Rows) error {
			var id, name string
			if err := r.Scan(&id, &name); err != nil {
				return err
			}
			names[id] = name
			return nil
		})
	if err != nil {
		return nil, err
	}
	tombs := map[string]bool{}
	err = query(ctx, pool, psql.Select("auth_user_id").From("auth_user_tombstones").Where(sq.Like{"auth_user_id": "ev-%"}),
		func(r pgx.Rows) error {
			var id string
			if err := r.Scan(&id); err != nil {
				return err
			}
			tombs[id] = true
			return nil
		})
	if err != nil {
		return nil, err
	}
	var problems []string
	for id, u := range expected {
		name, present := names[id]
		switch {
		case u.deleted && (present || !tombs[id]):
			problems = append(problems, fmt.Sprintf("%s: deletion confirmed, present=%v tombstone=%v", id, present, tombs[id]))
		case !u.deleted && !present:
			problems = append(problems, fmt.Sprintf("%s: creation confirmed, no reference", id))
		case !u.deleted && name != u.username:
			problems = append(problems, fmt.Sprintf("%s: username %q, confirmed %q", id, name, u.username))
		}
	}
	return problems, nil
}

// verifyEvents waits up to 30 s for the consumer to apply every confirmed event.
func verifyEvents(ctx context.Context, pool *pgxpool.Pool, expected map[string]authUser, rec *recorder) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		problems, err := eventProblems(ctx, pool, expected)
		if err != nil {
			return err
		}
		if len(problems) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, p := range problems {
				rec.violate("lost", "event %s", p)
			}
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// backlog is the number of outbox events not yet published.
func backlog(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	sql, args, err := psql.Select("count(*)").From("outbox_events").Where(sq.Eq{"published_at": nil}).ToSql()
	if err != nil {
		return 0, err
	}
	var n int
	err = pool.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}
