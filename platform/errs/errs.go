// Package errs is the service's one error vocabulary, in the manner of
// benbjohnson/wtf: a few codes that stores and modules return with their own
// words. Nothing here knows HTTP; platform/httpserver alone maps each code to
// a status and an RFC 9457 body, and anything without a code is an internal
// error whose cause stays in the log.
package errs

import (
	"errors"
	"fmt"
)

// Code classifies an error by what the caller can do about it.
type Code string

// The codes of the domain. A module picks the one that says what went wrong;
// the HTTP layer knows what each means on the wire.
const (
	Internal     Code = "internal"            // a bug or an unclassified failure: the client learns nothing more
	Malformed    Code = "malformed"           // the request cannot be read (syntax, a bad path id, query or cursor)
	Invalid      Code = "invalid"             // readable, but it breaks a rule (see Fields)
	NotFound     Code = "not_found"           // no such thing, or not the caller's to know
	Conflict     Code = "conflict"            // it clashes with the current state
	Precondition Code = "precondition_failed" // a condition the caller set does not hold
	Unavailable  Code = "unavailable"         // a dependency is down: retry later
	Unauthorized Code = "unauthorized"        // no valid credentials
	Forbidden    Code = "forbidden"           // valid credentials that do not grant this

	// Codes of the transport itself, produced by the HTTP layer.
	TooLarge         Code = "too_large"
	UnsupportedMedia Code = "unsupported_media"
	RateLimited      Code = "rate_limited"
)

// FieldError names one broken rule of one field of the input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error with a code and a message fit for the client. Its cause
// (Err) is for the logs only.
type Error struct {
	Code    Code
	Message string
	// Fields lists every broken field rule of an Invalid error.
	Fields []FieldError
	// RetryAfter, in seconds, tells the client when trying again makes sense
	// (RateLimited, Unavailable); 0 lets the HTTP layer choose.
	RetryAfter int
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// New is an error of code with a message for the client.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Wrap is New with a cause kept for the logs.
func Wrap(code Code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// InvalidFields is an Invalid error listing every broken field rule.
func InvalidFields(fields ...FieldError) *Error {
	return &Error{Code: Invalid, Message: "the request body breaks one or more field rules", Fields: fields}
}

// As returns the coded error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// CodeOf returns the code of err: Internal for an error without one, "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := As(err); ok {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }

// ErrOwnerUnknown is what a store returns when the owner a request is about
// (the owner id of its path) has no local record. It is a NotFound that the
// HTTP layer settles: it asks the owner directory (which may create the
// record just in time) and runs the request once more. Compare with errors.Is.
var ErrOwnerUnknown = New(NotFound, "the owner named by the request does not exist")
