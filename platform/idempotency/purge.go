package idempotency

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// Module provides the store and purges expired answers while the graph runs.
var Module = fx.Module("idempotency", fx.Provide(NewStore), fx.Invoke(startPurge))

// PurgeEvery is how often expired answers are deleted.
const PurgeEvery = 10 * time.Minute

// purgeBatch bounds one DELETE, so the purge never holds many locks at once.
const purgeBatch = 1000

// The BRIN index on created_at leads it to the block ranges holding expired answers.
const purgeSQL = `DELETE FROM idempotency_answers WHERE ctid = ANY (ARRAY(
  SELECT ctid FROM idempotency_answers WHERE created_at <= now() - $1::interval LIMIT $2))`

// Purge deletes the answers older than Retention, in batches; it returns how many went.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	var total int64
	for {
		tag, err := s.db.Exec(ctx, purgeSQL, Retention, purgeBatch)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < purgeBatch {
			return total, nil
		}
	}
}

// startPurge runs Purge at start and every PurgeEvery until the graph stops.
func startPurge(lc fx.Lifecycle, s *Store, log *zap.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				s.purgeLoop(ctx, log)
			}()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
			case <-stop.Done():
			}
			return nil
		},
	})
}

func (s *Store) purgeLoop(ctx context.Context, log *zap.Logger) {
	t := time.NewTicker(PurgeEvery)
	defer t.Stop()
	for {
		if n, err := s.Purge(ctx); err != nil && ctx.Err() == nil {
			// The database may be down for a while; the next tick tries again.
			log.Warn("idempotency: purge failed", zap.Error(err))
		} else if n > 0 {
			log.Debug("idempotency: purged expired answers", zap.Int64("count", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
