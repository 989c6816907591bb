package models

import (
	"errors"
	"fmt"

	"github.com/herald-hq/herald/models/hub"
	"github.com/herald-hq/herald/models/text"
)

// Error codes shared by every edge of Herald (GraphQL extensions.code, REST status table).
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeValidation      = "VALIDATION"
	CodeLimitExceeded   = "LIMIT_EXCEEDED"
	// CodeUnavailable says the database cannot be reached now: the same request may succeed
	// when retried later (REST answers 503 with Retry-After).
	CodeUnavailable = "UNAVAILABLE"
	CodeInternal    = "INTERNAL"
)

// Error is Herald's one domain error: a code of the SPEC, a message safe to show to the caller
// and, for VALIDATION, the input field at fault (`headers[3].name`).
type Error struct {
	Code    string
	Message string
	Field   string
	// cause is the driver error an UNAVAILABLE error stands for, kept for the log.
	cause error
}

// Unwrap returns the driver error an UNAVAILABLE error stands for, nil for the others.
func (e *Error) Unwrap() error { return e.cause }

// Error implements error.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Errorf returns a domain error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a VALIDATION error naming the field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeValidation, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a NOT_FOUND error for the kind of object.
func NotFound(kind string) *Error {
	return &Error{Code: CodeNotFound, Message: kind + " not found"}
}

// Forbidden returns a FORBIDDEN error.
func Forbidden() *Error {
	return &Error{Code: CodeForbidden, Message: "not allowed"}
}

// DomainError returns the domain error err is or wraps. An error of the database driver or
// pool saying the database cannot be reached (connection refused or lost, pool wait or answer
// past its deadline, SQLite busy beyond its timeout) is UNAVAILABLE, wrapping it. Anything else
// is internal: DomainError returns nil. A refusal of a rule below the store (*text.FieldError) is
// VALIDATION on its field; hub.ErrBehind, a live-log subscriber dropped, is LIMIT_EXCEEDED.
func DomainError(err error) *Error {
	var e *Error
	var fe *text.FieldError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &fe):
		return &Error{Code: CodeValidation, Field: fe.Field, Message: fe.Message}
	case errors.Is(err, hub.ErrBehind):
		return &Error{Code: CodeLimitExceeded, Message: hub.ErrBehind.Error()}
	case err != nil && unavailable(err):
		return &Error{Code: CodeUnavailable, Message: unavailableMessage, cause: err}
	}
	return nil
}

// ErrorCode returns the code of DomainError(err), and INTERNAL when it is nil.
func ErrorCode(err error) string {
	if e := DomainError(err); e != nil {
		return e.Code
	}
	return CodeInternal
}

// invalidInput returns the VALIDATION error that err, a refusal of a rule below the store
// (*text.FieldError), stands for; nil for nil.
func invalidInput(err error) error {
	if e := DomainError(err); e != nil {
		return e
	}
	return err
}
