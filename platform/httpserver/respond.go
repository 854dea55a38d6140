package httpserver

import "github.com/gofiber/fiber/v2"

// JSONBody is the response's own body buffer, emptied, for a handler to
// append its JSON answer to and hand to SendJSON. The buffer is fasthttp's,
// kept with the request context, so once warm an answer costs no allocation
// (a new slice per page was the largest allocation of a list request).
func JSONBody(c *fiber.Ctx) []byte { return c.Response().SwapBody(nil)[:0] }

// SendJSON answers status with body, a JSON value (appended to JSONBody or
// any other slice).
func SendJSON(c *fiber.Ctx, status int, body []byte) error {
	res := c.Response()
	res.SwapBody(body)
	res.SetStatusCode(status)
	res.Header.SetContentType(fiber.MIMEApplicationJSON)
	return nil
}
