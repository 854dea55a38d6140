// Package problem is the service's one error vocabulary: modules return
// *problem.Error values (or plain errors, which become a 500), and the HTTP
// layer renders them as RFC 9457 application/problem+json documents.
package problem

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// ContentType is the media type of every error body.
const ContentType = "application/problem+json"

// FieldError names one broken field rule of a request body or query.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an RFC 9457 problem. It is also a Go error, so it travels up the
// call stack unchanged until the HTTP error handler writes it.
type Error struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`

	// Headers are sent with the problem (Retry-After, WWW-Authenticate, Allow).
	Headers map[string]string `json:"-"`
	// cause is logged, never shown to the client.
	cause error
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Title)
}

// Unwrap exposes the internal cause to errors.Is/As and to the logs.
func (e *Error) Unwrap() error { return e.cause }

// WithHeader returns e with one more response header.
func (e *Error) WithHeader(name, value string) *Error {
	if e.Headers == nil {
		e.Headers = make(map[string]string, 1)
	}
	e.Headers[name] = value
	return e
}

// typeBase prefixes the type URIs; they name the kind of problem and are
// documented in docs/errors.md.
const typeBase = "https://usersvc.dev/problems/"

// New builds a problem of the given status with a type slug and a detail.
func New(status int, slug, detail string) *Error {
	return &Error{Type: typeBase + slug, Title: http.StatusText(status), Status: status, Detail: detail}
}

// Wrap is New with an internal cause kept for the logs.
func Wrap(status int, slug, detail string, cause error) *Error {
	e := New(status, slug, detail)
	e.cause = cause
	return e
}

// Constructors for the statuses of CONTRACT §2, so call sites read as the rule they enforce.

func BadRequest(detail string) *Error { return New(http.StatusBadRequest, "bad-request", detail) }

func Unauthorized(detail, challenge string) *Error {
	return New(http.StatusUnauthorized, "unauthorized", detail).WithHeader("WWW-Authenticate", challenge)
}

func Forbidden(detail string) *Error { return New(http.StatusForbidden, "forbidden", detail) }

func NotFound(detail string) *Error { return New(http.StatusNotFound, "not-found", detail) }

func MethodNotAllowed(allow string) *Error {
	e := New(http.StatusMethodNotAllowed, "method-not-allowed", "the resource does not support this method")
	if allow != "" {
		e.WithHeader("Allow", allow)
	}
	return e
}

func Conflict(detail string) *Error { return New(http.StatusConflict, "conflict", detail) }

func PreconditionFailed(detail string) *Error {
	return New(http.StatusPreconditionFailed, "precondition-failed", detail)
}

func TooLarge(limit int) *Error {
	return New(http.StatusRequestEntityTooLarge, "body-too-large",
		"the request body is larger than "+strconv.Itoa(limit)+" bytes")
}

func UnsupportedMediaType() *Error {
	return New(http.StatusUnsupportedMediaType, "unsupported-media-type", "the request body must be application/json")
}

// Invalid is a 422 listing every broken field rule.
func Invalid(errs ...FieldError) *Error {
	e := New(http.StatusUnprocessableEntity, "validation-failed", "the request body breaks one or more field rules")
	e.Errors = errs
	return e
}

func TooManyRequests(retryAfterSeconds int) *Error {
	return New(http.StatusTooManyRequests, "rate-limited", "too many requests; retry later").
		WithHeader("Retry-After", strconv.Itoa(retryAfterSeconds))
}

// Unavailable is a 503 for a dependency that is down; cause goes to the log only.
func Unavailable(detail string, cause error) *Error {
	return Wrap(http.StatusServiceUnavailable, "dependency-unavailable", detail, cause).WithHeader("Retry-After", "5")
}

// Internal is the one 500: it says nothing about its cause.
func Internal(cause error) *Error {
	return Wrap(http.StatusInternalServerError, "internal", "an unexpected error occurred", cause)
}

// From turns any error into a problem: problems pass through, anything else
// is an internal error whose detail stays in the log.
func From(err error) *Error {
	var p *Error
	if errors.As(err, &p) {
		return p
	}
	return Internal(err)
}
