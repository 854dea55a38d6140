package httpserver

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"usersvc/platform/idempotency"
)

// headerReplayed marks an answer replayed from a key's first request.
const headerReplayed = "Idempotent-Replayed"

// idempotent runs h behind the request's Idempotency-Key, if it has one: the
// key is checked (400), then the stored answer replayed, a request in
// progress (409) or a different one (422) refused before h could answer a
// 404; otherwise h runs in the transaction that stores its 2xx answer.
func (g *Guard) idempotent(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		values := c.Request().Header.PeekAll(idempotency.Header)
		if len(values) == 0 {
			return h(c)
		}
		key, err := idempotency.ParseKey(string(values[len(values)-1]))
		if err != nil || len(values) > 1 {
			return idempotency.ErrMalformedKey
		}
		fingerprint, ok := idempotency.Fingerprint(c.Body())
		if !ok {
			return h(c) // its decoding answers 400 for a body that is not a JSON object
		}
		caller, _ := Caller(c)
		scope := idempotency.Scope{Caller: caller.UserID, Method: c.Method(), Path: c.Path(), Key: key}
		outer := c.UserContext()
		defer c.SetUserContext(outer)
		replay, err := g.keys.Run(outer, scope, fingerprint, func(ctx context.Context) (idempotency.Answer, error) {
			c.SetUserContext(ctx)
			if err := h(c); err != nil {
				return idempotency.Answer{}, err
			}
			return answerOf(c), nil
		})
		if err != nil || replay == nil {
			return err
		}
		return sendReplay(c, replay)
	}
}

// answerOf is what the handler answered, as the contract replays it.
func answerOf(c *fiber.Ctx) idempotency.Answer {
	res := c.Response()
	return idempotency.Answer{
		Status:      res.StatusCode(),
		ContentType: string(res.Header.ContentType()),
		Location:    string(res.Header.Peek(fiber.HeaderLocation)),
		ETag:        string(res.Header.Peek(fiber.HeaderETag)),
		Body:        append([]byte(nil), res.Body()...),
	}
}

func sendReplay(c *fiber.Ctx, a *idempotency.Answer) error {
	c.Status(a.Status)
	c.Set(fiber.HeaderContentType, a.ContentType)
	if a.Location != "" {
		c.Set(fiber.HeaderLocation, a.Location)
	}
	if a.ETag != "" {
		c.Set(fiber.HeaderETag, a.ETag)
	}
	c.Set(headerReplayed, "true")
	return c.Send(a.Body)
}
