package authref

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/modules/authref/authclient"
	"usersvc/modules/authref/userid"
	"usersvc/platform/database"
)

// The backfill (`usersvc backfill-auth-users`, CONTRACT §6) fills and
// refreshes auth_users from a source that lists users in a stable order.
//
// Each batch is written by one statement: the new references are inserted,
// changed ones updated, unchanged ones left alone, the ids remembered as seen
// and the source's cursor saved in auth_user_backfill_progress. A run that is
// interrupted (Ctrl-C, a lost connection) therefore resumes after the last
// batch written when the same command runs again. Once the source is
// exhausted, references it did not list are the orphans.

// BackfillUser is one user as a source lists it.
type BackfillUser struct {
	ID              string
	Email, Username *string
}

// BackfillSource lists users in a stable order, a page at a time.
type BackfillSource interface {
	// Describe names the source, without credentials; a run resumes only on the same source.
	Describe() string
	// Count is how many users the source holds, or -1 when it cannot tell.
	Count(ctx context.Context) (int64, error)
	// Page returns up to limit users after cursor ("" is the start) and the
	// cursor after them. An empty page ends the listing.
	Page(ctx context.Context, cursor string, limit int) (users []BackfillUser, next string, err error)
}

// OrphanChecker is asked about each orphan before it is deleted: only
// authclient.ErrNotFound lets it go.
type OrphanChecker interface {
	Get(ctx context.Context, id string) (authclient.User, error)
}

// BackfillProgress shows how far the run is (a bar on a terminal, log lines elsewhere).
type BackfillProgress interface {
	Start(total, done int64) // total -1: unknown
	Add(n int)
	Finish()
}

// BackfillOptions are the command's flags.
type BackfillOptions struct {
	BatchSize     int
	DryRun        bool
	DeleteOrphans bool
	// Confirm is asked once before orphans are deleted; nil means yes (--yes).
	Confirm func(orphans int64) (bool, error)
	// Checker confirms each orphan is gone (the auth-service); required by DeleteOrphans.
	Checker  OrphanChecker
	Progress BackfillProgress // nil: none
	Log      io.Writer        // the operator's log (stderr), written from two goroutines; nil: discarded
}

// BackfillResult counts what the run (including the interrupted part it resumed) did.
type BackfillResult struct {
	Created, Updated, Unchanged, Orphans int64
	Skipped                              int64 // invalid or tombstoned ids in the source
	Deleted                              int64 // orphans deleted after the auth-service answered 404
	Resumed                              bool
}

// Summary is the one line the command prints on stdout.
func (r BackfillResult) Summary() string {
	return fmt.Sprintf("created=%d updated=%d unchanged=%d orphans=%d", r.Created, r.Updated, r.Unchanged, r.Orphans)
}

var (
	// ErrBackfillRunning: another backfill holds the lock on this database.
	ErrBackfillRunning = errors.New("another backfill-auth-users is running on this database")
	// ErrOrphansUnconfirmed: some orphans were kept because the auth-service did not answer for them.
	ErrOrphansUnconfirmed = errors.New("some orphans could not be checked with the auth-service and were kept")
)

// backfillLockID is the advisory lock that keeps backfill runs one at a time.
const backfillLockID = 0x75_73_72_62_66_69_6c // "usrbfil"

// MaxBackfillBatch bounds --batch-size: one statement carries a whole batch.
const MaxBackfillBatch = 50_000

// Backfill runs one backfill of auth_users from src.
func Backfill(ctx context.Context, db *pgxpool.Pool, src BackfillSource, opt BackfillOptions) (BackfillResult, error) {
	if opt.BatchSize < 1 || opt.BatchSize > MaxBackfillBatch {
		return BackfillResult{}, fmt.Errorf("batch size %d is out of range 1–%d", opt.BatchSize, MaxBackfillBatch)
	}
	if opt.DeleteOrphans && opt.Checker == nil {
		return BackfillResult{}, errors.New("deleting orphans needs the auth-service to confirm each one")
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if opt.Progress == nil {
		opt.Progress = noProgress{}
	}
	conn, err := db.Acquire(ctx)
	if err != nil {
		return BackfillResult{}, err
	}
	defer conn.Release()
	b := &backfill{conn: conn.Conn(), src: src, opt: opt, seen: "auth_user_backfill_seen"}
	// Commits need not wait for the disk: a crash that loses the last batches
	// also empties the (unlogged) progress, and the next run simply redoes them.
	if _, err := b.conn.Exec(ctx, "SET synchronous_commit = off"); err != nil {
		return BackfillResult{}, err
	}
	defer func() { _, _ = b.conn.Exec(context.WithoutCancel(ctx), "RESET synchronous_commit") }()
	if opt.DryRun {
		b.seen = "pg_temp.auth_user_backfill_dry_seen"
		if _, err := b.conn.Exec(ctx, "CREATE TEMP TABLE auth_user_backfill_dry_seen (auth_user_id text NOT NULL)"); err != nil {
			return BackfillResult{}, err
		}
		defer func() {
			_, _ = b.conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS pg_temp.auth_user_backfill_dry_seen")
		}()
	} else {
		var locked bool
		if err := b.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", backfillLockID).Scan(&locked); err != nil {
			return BackfillResult{}, err
		}
		if !locked {
			return BackfillResult{}, ErrBackfillRunning
		}
		defer func() {
			_, _ = b.conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", backfillLockID)
		}()
	}
	return b.run(ctx)
}

type backfill struct {
	conn *pgx.Conn
	src  BackfillSource
	opt  BackfillOptions
	seen string // the table of ids listed so far
	res  BackfillResult

	dbStart time.Time // the database's clock when the run started
	start   time.Time
}

func (b *backfill) logf(format string, args ...any) {
	fmt.Fprintf(b.opt.Log, "backfill: "+format+"\n", args...)
}

func (b *backfill) run(ctx context.Context) (BackfillResult, error) {
	if err := b.conn.QueryRow(ctx, "SELECT now()").Scan(&b.dbStart); err != nil {
		return b.res, err
	}
	b.start = time.Now()
	cursor, err := b.begin(ctx)
	if err != nil {
		return b.res, err
	}
	total, err := b.src.Count(ctx)
	if err != nil {
		return b.res, fmt.Errorf("count the users of %s: %w", b.src.Describe(), err)
	}
	done := b.res.Created + b.res.Updated + b.res.Unchanged + b.res.Skipped
	b.opt.Progress.Start(total, done)
	err = b.list(ctx, cursor)
	b.opt.Progress.Finish()
	if err != nil {
		if ctx.Err() != nil {
			done := b.res.Created + b.res.Updated + b.res.Unchanged + b.res.Skipped
			return b.res, fmt.Errorf("interrupted after %d users; run the same command again to resume: %w", done, ctx.Err())
		}
		return b.res, err
	}
	if b.res.Skipped > 0 {
		b.logf("skipped %d listed ids: tombstoned (deleted users stay deleted) or not valid auth_user_ids", b.res.Skipped)
	}
	orphans, err := b.orphans(ctx)
	if err != nil {
		return b.res, err
	}
	if !b.opt.DryRun {
		// The listing is complete: the next run starts afresh.
		if _, err := b.conn.Exec(ctx, "DELETE FROM auth_user_backfill_progress"); err != nil {
			return b.res, err
		}
		if _, err := b.conn.Exec(ctx, "TRUNCATE auth_user_backfill_seen"); err != nil {
			return b.res, err
		}
	}
	if b.opt.DryRun {
		b.logf("dry run: nothing was written")
	}
	if b.opt.DeleteOrphans && len(orphans) > 0 {
		if b.opt.DryRun {
			b.logf("dry run: no orphan deleted")
			return b.res, nil
		}
		return b.res, b.deleteOrphans(ctx, orphans)
	}
	return b.res, nil
}

// begin resumes the interrupted run of the same source, or starts a new one.
func (b *backfill) begin(ctx context.Context) (string, error) {
	if b.opt.DryRun {
		return "", nil
	}
	var source, cursor string
	var started time.Time
	err := b.conn.QueryRow(ctx, `SELECT source, next_key, created, updated, unchanged, skipped, started_at
FROM auth_user_backfill_progress`).Scan(&source, &cursor, &b.res.Created, &b.res.Updated, &b.res.Unchanged, &b.res.Skipped, &started)
	switch {
	case err == nil && source == b.src.Describe():
		b.res.Resumed = true
		b.logf("resuming the run of %s started %s, after %d users", source, started.UTC().Format(time.RFC3339),
			b.res.Created+b.res.Updated+b.res.Unchanged+b.res.Skipped)
		return cursor, nil
	case err == nil:
		b.logf("discarding the interrupted run of %s (this run reads %s)", source, b.src.Describe())
	case !errors.Is(err, pgx.ErrNoRows):
		return "", err
	}
	b.res = BackfillResult{}
	err = pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM auth_user_backfill_progress"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "TRUNCATE auth_user_backfill_seen"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO auth_user_backfill_progress (source) VALUES ($1)", b.src.Describe())
		return err
	})
	return "", err
}

// page is one page of the source, read ahead while the previous one is written.
type page struct {
	users []BackfillUser
	next  string
	asOf  time.Time // the database's clock before the page was read
	err   error
}

// list walks the source and writes it, batch by batch.
func (b *backfill) list(ctx context.Context, cursor string) error {
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan page, 1)
	defer func() {
		cancel()
		for range pages { // wait for the reader to stop before the caller closes the source
		}
	}()
	go func() {
		defer close(pages)
		for {
			p := page{asOf: b.dbStart.Add(time.Since(b.start))}
			p.users, p.next, p.err = b.readBatch(ctx, cursor)
			select {
			case pages <- p:
			case <-ctx.Done():
				return
			}
			if p.err != nil || len(p.users) == 0 {
				return
			}
			cursor = p.next
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		if len(p.users) == 0 {
			return nil
		}
		if err := b.write(ctx, p); err != nil {
			return err
		}
		b.opt.Progress.Add(len(p.users))
	}
	return ctx.Err()
}

// readBatch reads pages until a write batch is full or the source ends: a
// source may give smaller pages than asked (the auth-service's are capped).
func (b *backfill) readBatch(ctx context.Context, cursor string) ([]BackfillUser, string, error) {
	var users []BackfillUser
	for len(users) < b.opt.BatchSize {
		page, next, err := b.readPage(ctx, cursor, b.opt.BatchSize-len(users))
		if err != nil {
			return nil, "", err
		}
		if len(page) == 0 {
			break
		}
		users, cursor = append(users, page...), next
	}
	return users, cursor, nil
}

// readPage asks the source, retrying a page that failed for want of an
// answer a few times: an auth-service hiccup should not end a long run. A
// refusal (a 4xx) is an answer: asking again would get it again.
func (b *backfill) readPage(ctx context.Context, cursor string, limit int) ([]BackfillUser, string, error) {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var users []BackfillUser
		var next string
		if users, next, err = b.src.Page(ctx, cursor, limit); err == nil {
			return users, next, nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		if !errors.Is(err, authclient.ErrUnavailable) && !database.IsUnavailable(err) {
			break
		}
		b.logf("reading %s failed (attempt %d of 3): %v", b.src.Describe(), attempt, err)
		if attempt == 3 {
			break // no wait after the last attempt
		}
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(time.Duration(attempt) * 2 * time.Second):
		}
	}
	return nil, "", fmt.Errorf("read %s: %w", b.src.Describe(), err)
}

// batchSourceSQL is what batchSQL and dryBatchSQL share: the batch's users
// ($1–$3, the last of a repeated id winning) and what each would change,
// given the time the page was read ($4).
const batchSourceSQL = `
WITH src AS (
    SELECT DISTINCT ON (auth_user_id) *
    FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS s(auth_user_id, email, username, n)
    ORDER BY auth_user_id, n DESC),
cur AS (
    SELECT s.auth_user_id,
           a.auth_user_id IS NOT NULL AS known,
           t.auth_user_id IS NOT NULL AS dead,
           a.auth_user_id IS NOT NULL AND a.updated_at < $4
               AND (a.email IS DISTINCT FROM s.email OR a.username IS DISTINCT FROM s.username) AS stale
    FROM src s
    LEFT JOIN auth_users a USING (auth_user_id)
    LEFT JOIN auth_user_tombstones t USING (auth_user_id)),`

// batchSQL writes one batch in one statement: $1–$3 the users, $4 the time
// the page was read (a reference changed since then, by an event, is newer
// than the page and left alone), $5 the cursor after the batch, $6 the
// listed ids that were not valid.
const batchSQL = batchSourceSQL + `
seen AS (
    INSERT INTO %[1]s (auth_user_id) SELECT auth_user_id FROM src),
ins AS (
    INSERT INTO auth_users (auth_user_id, email, username)
    SELECT s.auth_user_id, s.email, s.username FROM src s JOIN cur c USING (auth_user_id)
    WHERE NOT c.known AND NOT c.dead
    ON CONFLICT (auth_user_id) DO NOTHING
    RETURNING 1),
upd AS (
    UPDATE auth_users a SET email = s.email, username = s.username, updated_at = now()
    FROM src s JOIN cur c USING (auth_user_id)
    WHERE a.auth_user_id = s.auth_user_id AND c.stale AND a.updated_at < $4
    RETURNING 1),
n AS (
    SELECT (SELECT count(*) FROM ins) AS created,
           (SELECT count(*) FROM upd) AS updated,
           (SELECT count(*) FROM cur WHERE NOT known AND dead) + $6 AS skipped,
           (SELECT count(*) FROM src) + $6 AS listed),
progress AS (
    UPDATE auth_user_backfill_progress p
    SET next_key = $5, created = p.created + n.created, updated = p.updated + n.updated,
        unchanged = p.unchanged + n.listed - n.created - n.updated - n.skipped, skipped = p.skipped + n.skipped,
        updated_at = now()
    FROM n)
SELECT created, updated, skipped, listed FROM n`

// dryBatchSQL counts what batchSQL would do, writing only the temporary seen
// table; $5 is the number of listed ids that were not valid.
const dryBatchSQL = batchSourceSQL + `
seen AS (
    INSERT INTO %[1]s (auth_user_id) SELECT auth_user_id FROM src ON CONFLICT DO NOTHING)
SELECT count(*) FILTER (WHERE NOT known AND NOT dead), count(*) FILTER (WHERE stale),
       count(*) FILTER (WHERE NOT known AND dead) + $5, count(*) + $5
FROM cur`

func (b *backfill) write(ctx context.Context, p page) error {
	ids := make([]string, 0, len(p.users))
	emails := make([]*string, 0, len(p.users))
	names := make([]*string, 0, len(p.users))
	invalid := 0
	for _, u := range p.users {
		if !userid.Valid(u.ID) {
			invalid++
			continue
		}
		ids, emails, names = append(ids, u.ID), append(emails, u.Email), append(names, u.Username)
	}
	query, args := batchSQL, []any{ids, emails, names, p.asOf, p.next, invalid}
	if b.opt.DryRun {
		query, args = dryBatchSQL, []any{ids, emails, names, p.asOf, invalid}
	}
	var created, updated, skipped, listed int64
	err := b.conn.QueryRow(ctx, fmt.Sprintf(query, b.seen), args...).Scan(&created, &updated, &skipped, &listed)
	if err != nil {
		return fmt.Errorf("write a batch of references: %w", err)
	}
	b.res.Created += created
	b.res.Updated += updated
	b.res.Skipped += skipped
	b.res.Unchanged += listed - created - updated - skipped
	return nil
}

// orphans lists the references the source did not list.
func (b *backfill) orphans(ctx context.Context) ([]string, error) {
	rows, err := b.conn.Query(ctx, `SELECT a.auth_user_id FROM auth_users a
WHERE NOT EXISTS (SELECT 1 FROM `+b.seen+` s WHERE s.auth_user_id = a.auth_user_id) ORDER BY a.auth_user_id`)
	if err != nil {
		return nil, err
	}
	orphans, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list orphans: %w", err)
	}
	for _, id := range orphans {
		b.logf("orphan: %s (not listed by %s)", id, b.src.Describe())
	}
	b.res.Orphans = int64(len(orphans))
	return orphans, nil
}

// deleteOrphanSQL deletes a reference (its badges and goals go by cascade)
// and leaves a tombstone, exactly as a UserDeleted event would.
const deleteOrphanSQL = `
WITH del AS (DELETE FROM auth_users WHERE auth_user_id = $1 RETURNING auth_user_id)
INSERT INTO auth_user_tombstones (auth_user_id, deleted_at)
SELECT auth_user_id, now() FROM del
ON CONFLICT (auth_user_id) DO UPDATE SET deleted_at = GREATEST(auth_user_tombstones.deleted_at, EXCLUDED.deleted_at)`

// deleteOrphans deletes each orphan the auth-service answers 404 for, one by one.
func (b *backfill) deleteOrphans(ctx context.Context, orphans []string) error {
	if b.opt.Confirm != nil {
		ok, err := b.opt.Confirm(int64(len(orphans)))
		if err != nil {
			return err
		}
		if !ok {
			b.logf("not confirmed: no orphan deleted")
			return nil
		}
	}
	var unconfirmed int
	for _, id := range orphans {
		_, err := b.opt.Checker.Get(ctx, id)
		switch {
		case errors.Is(err, authclient.ErrNotFound):
			tag, err := b.conn.Exec(ctx, deleteOrphanSQL, id)
			if err != nil {
				return fmt.Errorf("delete orphan %s: %w", id, err)
			}
			if tag.RowsAffected() > 0 {
				b.res.Deleted++
				b.logf("deleted orphan %s: the auth-service answered 404", id)
			}
		case err == nil:
			b.logf("kept orphan %s: the auth-service knows it", id)
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			unconfirmed++
			b.logf("kept orphan %s: %v", id, err)
		}
	}
	b.logf("deleted %d of %d orphans", b.res.Deleted, len(orphans))
	if unconfirmed > 0 {
		return fmt.Errorf("%w (%d); run again when it answers", ErrOrphansUnconfirmed, unconfirmed)
	}
	return nil
}

type noProgress struct{}

func (noProgress) Start(int64, int64) {}
func (noProgress) Add(int)            {}
func (noProgress) Finish()            {}
