package profile

import (
	"context"

	"go.uber.org/zap"

	"usersvc/platform/logging"
	"usersvc/platform/userref"
)

// Service is the profile use cases.
type Service struct {
	store     *Store
	users     userref.Directory
	refresher userref.Refresher
	log       *zap.Logger
}

// NewService builds the service.
func NewService(store *Store, users userref.Directory, refresher userref.Refresher, log *zap.Logger) *Service {
	return &Service{store: store, users: users, refresher: refresher, log: log}
}

// Public is anyone's public profile; a known id never calls the auth-service.
func (s *Service) Public(ctx context.Context, userID string) (Profile, error) {
	return userref.WithUser(ctx, s.users, userID, func() (Profile, bool, error) {
		return s.store.Get(ctx, userID)
	})
}

// Me is the caller's own profile. The auth-service is asked first, so its
// identity fields win and refresh the local reference; when it cannot
// answer, the cached reference is served (never an error). The caller's
// reference exists already (the guard claimed it), except for an admin
// token's subject, which is never resolved into one: that is a 404.
func (s *Service) Me(ctx context.Context, userID string) (Profile, error) {
	if _, err := s.refresher.Refresh(ctx, userID); err != nil {
		// Storing the fresh identity failed; the cached one still answers.
		logging.For(ctx, s.log).Warn("refreshing the caller's identity failed; serving cached data", zap.Error(err))
	}
	p, found, err := s.store.Get(ctx, userID)
	if err == nil && !found {
		err = userref.ErrUnknown
	}
	return p, err
}
