package httpserver

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/coalesce"
)

// sharedReads lets identical concurrent requests of a Shared route share one
// run of its chain, keyed by method and URL (path and query: a public read's
// answer depends on nothing else). A request only shares a run that started after
// it arrived, so it never sees an answer older than itself; the run is
// detached from the request that happens to carry it (coalesce.Group), so no
// request inherits another's deadline or cancellation.
type sharedReads struct {
	group coalesce.Group[sharedKey, *sharedAnswer]
}

// sharedKey names a read: HEAD and GET of one URL answer differently.
type sharedKey struct{ method, url string }

// sharedAnswer is what a run answered: an error, or the parts of a response
// a read sets.
type sharedAnswer struct {
	err                     error
	status                  int
	contentType, link, etag string
	body                    []byte
}

func newSharedReads(timeout time.Duration) *sharedReads {
	s := &sharedReads{}
	s.group.Timeout = timeout
	return s
}

func (s *sharedReads) wrap(run func(*fiber.Ctx) error) func(*fiber.Ctx) error {
	return func(c *fiber.Ctx) error {
		ran := false
		var runErr error
		key := sharedKey{method: c.Method(), url: c.OriginalURL()}
		answer, err := s.group.DoShared(c.UserContext(), key, func(ctx context.Context, joiners int) (*sharedAnswer, error) {
			ran = true
			runErr = runWith(c, ctx, run)
			if joiners == 0 { // nobody else reads this answer: keep no copy of it
				return nil, nil
			}
			return capture(c, runErr), nil
		})
		switch {
		case err != nil: // this request gave up waiting
			return err
		case ran:
			return runErr
		case answer.err != nil:
			return answer.err
		}
		answer.writeTo(c)
		return nil
	}
}

// runWith runs the chain on c with the shared run's context.
func runWith(c *fiber.Ctx, ctx context.Context, run func(*fiber.Ctx) error) error {
	own := c.UserContext()
	c.SetUserContext(ctx)
	defer c.SetUserContext(own)
	return run(c)
}

// capture keeps a copy of what the run answered on c, for the requests that
// share it (the response buffer is c's own).
func capture(c *fiber.Ctx, err error) *sharedAnswer {
	if err != nil {
		return &sharedAnswer{err: err}
	}
	res := c.Response()
	return &sharedAnswer{
		status:      res.StatusCode(),
		contentType: string(res.Header.ContentType()),
		link:        string(res.Header.Peek(fiber.HeaderLink)),
		etag:        string(res.Header.Peek(fiber.HeaderETag)),
		body:        append([]byte(nil), res.Body()...),
	}
}

func (a *sharedAnswer) writeTo(c *fiber.Ctx) {
	c.Status(a.status)
	c.Set(fiber.HeaderContentType, a.contentType)
	if a.link != "" {
		c.Set(fiber.HeaderLink, a.link)
	}
	if a.etag != "" {
		c.Set(fiber.HeaderETag, a.etag)
	}
	c.Response().SetBody(a.body) // copies: the answer is shared
}
