package pgtest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"usersvc/internal/testkit/pgtest"
)

// TestRecorderSeesEveryExecution: prepared once, run twice, is recorded twice;
// simple queries are recorded as sent; values are not part of the text.
func TestRecorderSeesEveryExecution(t *testing.T) {
	t.Parallel()
	rec := pgtest.Record(t, pgtest.AdminURL(t))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, rec.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const q = "SELECT $1::int + 1"
	for _, v := range []int{41, 99} {
		var got int
		if err := conn.QueryRow(ctx, q, v).Scan(&got); err != nil || got != v+1 {
			t.Fatalf("through the recorder: %d, %v", got, err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT 7", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	// Prepare, then run twice, then the simple query.
	if got := rec.TakeRoundTrips(); got != 4 {
		t.Errorf("%d round trips, want 4", got)
	}
	b := &pgx.Batch{}
	b.Queue(q, 1)
	b.Queue("SELECT 8")
	b.Queue(q, 2)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	if got := rec.TakeRoundTrips(); got != 2 { // the new statement's preparation, then the batch
		t.Errorf("a batch: %d round trips, want 2", got)
	}
	if got := rec.Take(); !slices.Equal(got, []string{q, q, "SELECT 7", q, "SELECT 8", q}) {
		t.Fatalf("recorded %q", got)
	}
	if got := rec.Take(); len(got) != 0 {
		t.Fatalf("Take did not forget: %q", got)
	}
	plan := pgtest.GenericPlan(t, pgtest.Pool(t, pgtest.AdminURL(t)), "SELECT relname FROM pg_class WHERE oid = $1")
	if scans := plan.Scans("pg_class"); len(scans) != 1 || scans[0].NodeType != "Index Scan" {
		t.Fatalf("plan of a lookup by key: %s", plan)
	}
}

// TestHoldExecute: a statement held by HoldExecute already has its snapshot
// (taken at its Bind): a row committed while it is held is not in its answer.
func TestHoldExecute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	other := pgtest.Pool(t, url)
	if _, err := other.Exec(ctx, `CREATE TABLE t (id int)`); err != nil {
		t.Fatal(err)
	}
	rec := pgtest.Record(t, url)
	conn, err := pgx.Connect(ctx, rec.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	held, release := rec.HoldExecute(2)
	var n int
	done := make(chan error, 1)
	go func() {
		b := &pgx.Batch{}
		b.Queue(`SELECT 1`)
		b.Queue(`SELECT count(*) FROM t`).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
		done <- conn.SendBatch(ctx, b).Close()
	}()
	<-held
	if _, err := other.Exec(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; err != nil || n != 0 {
		t.Fatalf("the held statement counted %d rows (%v), want 0: its snapshot predates the hold", n, err)
	}
}
