package authref_test

import (
	"context"
	"testing"
	"time"

	"usersvc/internal/testkit/pgtest"
	"usersvc/modules/authref"
)

// BenchmarkBackfillLegacy measures a first backfill from the legacy users
// table (every reference created), the case that matters for the cut-over:
//
//	USERSVC_TEST_DATABASE_URL=… go test -run '^$' -bench BackfillLegacy -benchtime 5x ./modules/authref/
//
// It reports refs/s: references written per second of wall time.
func BenchmarkBackfillLegacy(b *testing.B) {
	const users = 200_000
	ctx := context.Background()
	db := pgtest.Pool(b, pgtest.Migrated(b))
	legacyUsers(b, db, users)
	mustExec(b, db, "ANALYZE users")
	src := legacySource(b, db)
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		mustExec(b, db, "TRUNCATE auth_users CASCADE")
		b.StartTimer()
		start := time.Now()
		res, err := authref.Backfill(ctx, db, src, authref.BackfillOptions{BatchSize: 5000})
		elapsed += time.Since(start)
		if err != nil || res.Created != users {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(users*b.N)/elapsed.Seconds(), "refs/s")
}
