package badges

import (
	"context"

	"usersvc/platform/page"
	"usersvc/platform/userref"
)

// Service is the badge use cases: the store's one-round-trip queries, plus
// the slow path for a user id that has no local reference yet.
type Service struct {
	store *Store
	users userref.Directory
}

// NewService builds the service.
func NewService(store *Store, users userref.Directory) *Service {
	return &Service{store: store, users: users}
}

// List returns at most limit badges of the user, newest first, after the cursor if any.
func (s *Service) List(ctx context.Context, userID string, after *page.Cursor, limit int) ([]Badge, error) {
	return userref.WithUser(ctx, s.users, userID, func() ([]Badge, bool, error) {
		return s.store.List(ctx, userID, after, limit)
	})
}

// Get returns one badge of the user (ErrBadgeNotFound for another user's badge).
func (s *Service) Get(ctx context.Context, userID string, id int64) (Badge, error) {
	return userref.WithUser(ctx, s.users, userID, func() (Badge, bool, error) {
		return s.store.Get(ctx, userID, id)
	})
}

// Create awards a badge (ErrBadgeExists for a name the user already has).
func (s *Service) Create(ctx context.Context, nb NewBadge) (Badge, error) {
	return userref.WithUser(ctx, s.users, nb.UserID, func() (Badge, bool, error) {
		return s.store.Create(ctx, nb)
	})
}

// CheckUser resolves the user alone: a request with broken fields still
// answers 404 for an unknown user first (CONTRACT §2 order).
func (s *Service) CheckUser(ctx context.Context, userID string) error {
	return s.users.Resolve(ctx, userID)
}
