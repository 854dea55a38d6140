package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"usersvc/internal/testkit/amqptest"
)

// userStory is one user's auth-service events: created, renamed
// `updates` times, and deleted when deleted is set. Their occurred_at
// grow by a millisecond each; the last event decides the final state.
type userStory struct {
	id      string
	updates int
	deleted bool
	start   time.Time
}

func stories(prefix string, users, updates int, start time.Time) []userStory {
	out := make([]userStory, users)
	for i := range out {
		out[i] = userStory{id: fmt.Sprintf("%s-%d", prefix, i), updates: updates, deleted: i%5 == 4, start: start}
	}
	return out
}

func (s userStory) username(k int) string { return fmt.Sprintf("%s-v%d", s.id, k) }

func (s userStory) at(k int) string {
	return s.start.Add(time.Duration(k) * time.Millisecond).UTC().Format(time.RFC3339Nano)
}

// messages are the story's events, in the order the auth-service emitted them.
func (s userStory) messages() []amqptest.Message {
	msg := func(key, typ string, k int, data map[string]any) amqptest.Message {
		b, _ := json.Marshal(map[string]any{"event_type": typ, "event_id": fmt.Sprintf("%s-%d", s.id, k), "occurred_at": s.at(k), "data": data})
		return amqptest.Message{Key: key, Body: b}
	}
	out := []amqptest.Message{msg("user.created", "UserCreated", 0, map[string]any{"id": s.id, "username": s.username(0), "email": nil})}
	for k := 1; k <= s.updates; k++ {
		out = append(out, msg("user.updated", "UserUpdated", k, map[string]any{"id": s.id, "username": s.username(k)}))
	}
	if s.deleted {
		out = append(out, msg("user.deleted", "UserDeleted", s.updates+1, map[string]any{"id": s.id}))
	}
	return out
}

// publishStories sends every user's events, one user after the other: a
// user's events are neighbours in the queue, so they are split between the
// two consumers' prefetch windows and applied concurrently.
func publishStories(ctx context.Context, brokerURL string, ss []userStory) (int, error) {
	var msgs []amqptest.Message
	for _, s := range ss {
		msgs = append(msgs, s.messages()...)
	}
	return len(msgs), amqptest.PublishAll(ctx, brokerURL, "auth.events", msgs, 500, nil)
}

// orderViolations counts the users whose state is not the one their last
// event leaves: an older event applied after a newer one.
func orderViolations(ctx context.Context, db *pgxpool.Pool, ss []userStory) (int, error) {
	ids, names, deleted := make([]string, len(ss)), make([]string, len(ss)), make([]bool, len(ss))
	for i, s := range ss {
		ids[i], names[i], deleted[i] = s.id, s.username(s.updates), s.deleted
	}
	var bad int
	err := db.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[], $2::text[], $3::bool[]) AS want(id, username, deleted)
		LEFT JOIN auth_users u ON u.auth_user_id = want.id
		LEFT JOIN auth_user_tombstones d ON d.auth_user_id = want.id
		WHERE CASE WHEN want.deleted THEN u.auth_user_id IS NOT NULL OR d.auth_user_id IS NULL
		           ELSE u.auth_user_id IS NULL OR d.auth_user_id IS NOT NULL OR u.username IS DISTINCT FROM want.username END`,
		ids, names, deleted).Scan(&bad)
	return bad, err
}
