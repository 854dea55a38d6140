package authref_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/authref"
	"usersvc/modules/authref/authevent"
	"usersvc/platform/database"
)

// evWorld is a fresh database and the lifecycle handler on it.
type evWorld struct {
	t    *testing.T
	pool *pgxpool.Pool
	h    authevent.Handler
}

func newEvWorld(t *testing.T) *evWorld {
	t.Helper()
	pool := pgtest.Pool(t, pgtest.Migrated(t))
	return &evWorld{t: t, pool: pool, h: authref.LifecycleHandler(pool)}
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

func text(s string) authevent.Text { return authevent.Text{Present: true, Value: &s} }

var null = authevent.Text{Present: true}

func ev(typ authevent.Type, id string, when time.Time, email, username authevent.Text) authevent.Event {
	return authevent.Event{Type: typ, UserID: id, OccurredAt: when, Email: email, Username: username}
}

func (w *evWorld) apply(es ...authevent.Event) {
	w.t.Helper()
	if err := w.h.HandleBatch(context.Background(), es); err != nil {
		w.t.Fatalf("apply: %v", err)
	}
}

// ref is what the table holds for an id; exists=false when there is no reference.
type ref struct {
	exists          bool
	email, username *string
	lastEventAt     *time.Time
	updatedAt       time.Time
	tombstone       *time.Time
}

func (w *evWorld) ref(id string) ref {
	w.t.Helper()
	var r ref
	err := w.pool.QueryRow(context.Background(),
		`SELECT email, username, last_event_at, updated_at FROM auth_users WHERE auth_user_id = $1`, id).
		Scan(&r.email, &r.username, &r.lastEventAt, &r.updatedAt)
	switch {
	case err == nil:
		r.exists = true
	case !errors.Is(err, pgx.ErrNoRows):
		w.t.Fatal(err)
	}
	err = w.pool.QueryRow(context.Background(), `SELECT deleted_at FROM auth_user_tombstones WHERE auth_user_id = $1`, id).Scan(&r.tombstone)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		w.t.Fatal(err)
	}
	return r
}

func (w *evWorld) expect(id string, exists bool, email, username string) ref {
	w.t.Helper()
	r := w.ref(id)
	if r.exists != exists {
		w.t.Fatalf("%s: reference exists = %v, want %v", id, r.exists, exists)
	}
	if exists && (deref(r.email) != email || deref(r.username) != username) {
		w.t.Fatalf("%s: email=%q username=%q, want %q %q", id, deref(r.email), deref(r.username), email, username)
	}
	if exists && r.tombstone != nil {
		w.t.Fatalf("%s: a reference and a tombstone at once", id)
	}
	return r
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func TestCreatedInsertsAndARedeliveryChangesNothing(t *testing.T) {
	w := newEvWorld(t)
	c := ev(authevent.UserCreated, "42", at(0), text("ada@example.com"), text("ada"))
	w.apply(c)
	before := w.expect("42", true, "ada@example.com", "ada")
	if before.lastEventAt == nil || !before.lastEventAt.Equal(at(0)) {
		t.Fatalf("last_event_at = %v, want %v", before.lastEventAt, at(0))
	}
	time.Sleep(10 * time.Millisecond)
	c.Redelivered = true
	w.apply(c)
	after := w.expect("42", true, "ada@example.com", "ada")
	if !after.updatedAt.Equal(before.updatedAt) {
		t.Errorf("a redelivered event rewrote the row (updated_at %v → %v)", before.updatedAt, after.updatedAt)
	}
}

func TestOlderEventsChangeNothing(t *testing.T) {
	w := newEvWorld(t)
	w.apply(ev(authevent.UserUpdated, "7", at(10), text("new@example.com"), text("new")))
	w.apply(ev(authevent.UserCreated, "7", at(5), text("old@example.com"), text("old"))) // arrives late
	w.expect("7", true, "new@example.com", "new")
	w.apply(ev(authevent.UserUpdated, "7", at(9), text("older@example.com"), authevent.Text{}))
	w.expect("7", true, "new@example.com", "new")
	w.apply(ev(authevent.UserDeleted, "7", at(8), authevent.Text{}, authevent.Text{})) // older than the last event
	w.expect("7", true, "new@example.com", "new")
}

func TestUpdatedTouchesOnlyTheFieldsItCarries(t *testing.T) {
	w := newEvWorld(t)
	w.apply(ev(authevent.UserCreated, "1", at(0), text("a@example.com"), text("a")))
	w.apply(ev(authevent.UserUpdated, "1", at(1), authevent.Text{}, text("b")))
	w.expect("1", true, "a@example.com", "b")
	w.apply(ev(authevent.UserUpdated, "1", at(2), null, authevent.Text{}))
	w.expect("1", true, "<null>", "b")
}

func TestUpdatedForAnUnknownIDUpsertsIt(t *testing.T) {
	w := newEvWorld(t)
	w.apply(ev(authevent.UserUpdated, "u-9", at(0), text("x@example.com"), authevent.Text{}))
	w.expect("u-9", true, "x@example.com", "<null>")
}

func TestDeletedLeavesATombstoneThatOnlyALaterCreatedLifts(t *testing.T) {
	w := newEvWorld(t)
	w.apply(ev(authevent.UserCreated, "5", at(0), text("e@example.com"), text("e")))
	w.apply(ev(authevent.UserDeleted, "5", at(10), authevent.Text{}, authevent.Text{}))
	r := w.expect("5", false, "", "")
	if r.tombstone == nil || !r.tombstone.Equal(at(10)) {
		t.Fatalf("tombstone = %v, want %v", r.tombstone, at(10))
	}
	w.apply(ev(authevent.UserCreated, "5", at(3), text("e@example.com"), text("e"))) // a redelivered old Created
	w.expect("5", false, "", "")
	w.apply(ev(authevent.UserCreated, "5", at(10), text("e@example.com"), text("e"))) // same instant: not after
	w.expect("5", false, "", "")
	w.apply(ev(authevent.UserUpdated, "5", at(20), text("u@example.com"), text("u"))) // Updated never revives
	w.expect("5", false, "", "")
	w.apply(ev(authevent.UserCreated, "5", at(11), text("back@example.com"), text("back")))
	w.expect("5", true, "back@example.com", "back")
	w.apply(ev(authevent.UserDeleted, "5", at(10), authevent.Text{}, authevent.Text{})) // the old Deleted, redelivered
	w.expect("5", true, "back@example.com", "back")
}

func TestRepeatedDeletedKeepsTheLatestTime(t *testing.T) {
	w := newEvWorld(t)
	w.apply(ev(authevent.UserDeleted, "never-seen", at(5), authevent.Text{}, authevent.Text{}))
	w.apply(ev(authevent.UserDeleted, "never-seen", at(2), authevent.Text{}, authevent.Text{}))
	w.apply(authevent.Event{Type: authevent.UserDeleted, UserID: "never-seen"}) // no time: keeps the known one
	if r := w.expect("never-seen", false, "", ""); r.tombstone == nil || !r.tombstone.Equal(at(5)) {
		t.Fatalf("tombstone = %v, want %v", r.tombstone, at(5))
	}
	w.apply(ev(authevent.UserCreated, "never-seen", at(4), authevent.Text{}, authevent.Text{}))
	w.expect("never-seen", false, "", "")
}

func TestEventsWithoutTimeApplyInArrivalOrder(t *testing.T) {
	w := newEvWorld(t)
	w.apply(ev(authevent.UserCreated, "3", at(0), text("a@example.com"), text("a")))
	w.apply(authevent.Event{Type: authevent.UserUpdated, UserID: "3", Username: text("b")})
	r := w.expect("3", true, "a@example.com", "b")
	if r.lastEventAt == nil || !r.lastEventAt.Equal(at(0)) {
		t.Errorf("last_event_at = %v, want it kept at %v", r.lastEventAt, at(0))
	}
	w.apply(authevent.Event{Type: authevent.UserDeleted, UserID: "3"})
	w.expect("3", false, "", "")
	w.apply(authevent.Event{Type: authevent.UserCreated, UserID: "3", Username: text("c")}) // after the deletion, by arrival
	w.expect("3", true, "<null>", "c")
}

func TestDeletedRemovesTheUsersBadgesAndGoals(t *testing.T) {
	w := newEvWorld(t)
	ctx := context.Background()
	w.apply(ev(authevent.UserCreated, "9", at(0), text("n@example.com"), text("n")), ev(authevent.UserCreated, "10", at(0), authevent.Text{}, authevent.Text{}))
	for _, id := range []string{"9", "10"} {
		if _, err := w.pool.Exec(ctx, `INSERT INTO badges (auth_user_id, name) VALUES ($1, 'First Steps'), ($1, 'Second')`, id); err != nil {
			t.Fatal(err)
		}
		if _, err := w.pool.Exec(ctx, `INSERT INTO learning_goals (auth_user_id, title) VALUES ($1, 'Learn Go')`, id); err != nil {
			t.Fatal(err)
		}
	}
	w.apply(ev(authevent.UserDeleted, "9", at(1), authevent.Text{}, authevent.Text{}))
	for id, want := range map[string]int{"9": 0, "10": 3} {
		var n int
		if err := w.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM badges WHERE auth_user_id = $1) + (SELECT count(*) FROM learning_goals WHERE auth_user_id = $1)`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("user %s has %d badges and goals, want %d", id, n, want)
		}
	}
}

func TestABatchAppliesInOrder(t *testing.T) {
	w := newEvWorld(t)
	w.apply(
		ev(authevent.UserCreated, "b", at(0), text("1@example.com"), text("one")),
		ev(authevent.UserUpdated, "b", at(1), text("2@example.com"), authevent.Text{}),
		ev(authevent.UserCreated, "c", at(1), authevent.Text{}, text("c")),
		ev(authevent.UserDeleted, "b", at(2), authevent.Text{}, authevent.Text{}),
		ev(authevent.UserCreated, "b", at(3), text("3@example.com"), text("three")),
		ev(authevent.UserUpdated, "b", at(1), text("stale@example.com"), authevent.Text{}),
	)
	w.expect("b", true, "3@example.com", "three")
	w.expect("c", true, "<null>", "c")
}

func TestDataTheDatabaseRefusesIsADataError(t *testing.T) {
	w := newEvWorld(t)
	err := w.h.HandleBatch(context.Background(), []authevent.Event{
		ev(authevent.UserCreated, "ok", at(0), authevent.Text{}, authevent.Text{}),
		ev(authevent.UserCreated, "nul", at(0), authevent.Text{}, text("a\x00b")),
	})
	if !database.IsDataError(err) {
		t.Fatalf("err = %v, want a data error (SQLSTATE class 22)", err)
	}
	w.expect("ok", false, "", "") // all or nothing
}

// A batch of lifecycle events is one round trip, BEGIN and COMMIT included:
// the consumer waits for each batch, so round trips set its pace on a
// durable database (docs/events.md, "Consuming UserCreated").
func TestLifecycleBatchIsOneRoundTrip(t *testing.T) {
	rec := pgtest.Record(t, pgtest.Migrated(t))
	pool := pgtest.Pool(t, rec.URL+"&pool_max_conns=1") // its statements are prepared on the connection it reuses
	h := authref.LifecycleHandler(pool)
	batch := []authevent.Event{
		ev(authevent.UserCreated, "rt-1", at(1), text("a@example.com"), text("a")),
		ev(authevent.UserUpdated, "rt-1", at(2), text("b@example.com"), null),
		ev(authevent.UserCreated, "rt-2", at(1), text("c@example.com"), text("c")),
		ev(authevent.UserDeleted, "rt-2", at(3), authevent.Text{}, authevent.Text{}),
	}
	// The first batch also prepares the statements, once per connection.
	if err := h.HandleBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	rec.TakeRoundTrips()
	if err := h.HandleBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if n := rec.TakeRoundTrips(); n != 1 {
		t.Errorf("a batch took %d round trips, want 1", n)
	}
	rows, _ := pool.Query(context.Background(), "SELECT email FROM auth_users WHERE auth_user_id LIKE 'rt-%'")
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(emails) != 1 || emails[0] != "b@example.com" {
		t.Errorf("references %v (%v), want rt-1's updated email alone", emails, err)
	}
}

// A batch of Created events of distinct ids is applied by one statement;
// it must leave exactly what applying them one by one leaves, from every
// starting state: unknown id, older or newer reference, identical reference,
// older or newer tombstone, with or without occurred_at, and with the
// fields present, null or absent.
func TestCreatedBatchEqualsOneByOne(t *testing.T) {
	w := newEvWorld(t)
	type start struct {
		name  string
		setup func(id string) // the state before, through the one-by-one path
		at    time.Time       // the event's time; zero: none
	}
	starts := []start{
		{"unknown", func(string) {}, at(10)},
		{"unknown, no time", func(string) {}, time.Time{}},
		{"older reference", func(id string) { w.apply(ev(authevent.UserCreated, id, at(5), text("old@x"), text("old"))) }, at(10)},
		{"newer reference", func(id string) { w.apply(ev(authevent.UserCreated, id, at(20), text("new@x"), text("new"))) }, at(10)},
		{"same reference", func(id string) { w.apply(ev(authevent.UserCreated, id, at(10), text("e@x"), text("u"))) }, at(10)},
		{"reference, no time", func(id string) { w.apply(ev(authevent.UserCreated, id, at(5), text("old@x"), text("old"))) }, time.Time{}},
		{"older tombstone", func(id string) { w.apply(ev(authevent.UserDeleted, id, at(5), authevent.Text{}, authevent.Text{})) }, at(10)},
		{"newer tombstone", func(id string) { w.apply(ev(authevent.UserDeleted, id, at(20), authevent.Text{}, authevent.Text{})) }, at(10)},
		{"tombstone, no time", func(id string) { w.apply(ev(authevent.UserDeleted, id, at(5), authevent.Text{}, authevent.Text{})) }, time.Time{}},
	}
	for _, fields := range []struct {
		name            string
		email, username authevent.Text
	}{
		{"both present", text("e@x"), text("u")},
		{"email null, username absent", null, authevent.Text{}},
		{"both absent", authevent.Text{}, authevent.Text{}},
	} {
		t.Run(fields.name, func(t *testing.T) {
			var batch []authevent.Event
			for i, s := range starts {
				one, many := fmt.Sprintf("one-%s-%d", fields.name[:4], i), fmt.Sprintf("many-%s-%d", fields.name[:4], i)
				s.setup(one)
				s.setup(many)
				w.apply(ev(authevent.UserCreated, one, s.at, fields.email, fields.username)) // one by one
				batch = append(batch, ev(authevent.UserCreated, many, s.at, fields.email, fields.username))
			}
			before := map[string]ref{}
			for _, e := range batch {
				before[e.UserID] = w.ref(e.UserID)
			}
			w.apply(batch...)
			for i, s := range starts {
				one, many := w.ref(fmt.Sprintf("one-%s-%d", fields.name[:4], i)), w.ref(batch[i].UserID)
				touched := many.exists && before[batch[i].UserID].exists && !many.updatedAt.Equal(before[batch[i].UserID].updatedAt)
				if one.exists != many.exists || deref(one.email) != deref(many.email) || deref(one.username) != deref(many.username) ||
					!equalTime(one.lastEventAt, many.lastEventAt) || !equalTime(one.tombstone, many.tombstone) {
					t.Errorf("%s: one by one %+v, batch %+v", s.name, one, many)
				}
				if s.name == "same reference" && fields.name == "both present" && touched {
					t.Errorf("%s: the batch rewrote a reference it did not change", s.name)
				}
			}
		})
	}
}

func equalTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}
