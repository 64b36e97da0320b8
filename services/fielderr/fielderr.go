// Package fielderr is a validation error that names the input field at
// fault, so an HTTP layer can answer {"field": ...} without parsing the
// message.
package fielderr

import "fmt"

// Error is a problem with one field.
type Error struct {
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap gives the cause (e.g. a query parse error with its column).
func (e *Error) Unwrap() error { return e.Err }

// New is an error of field with a formatted message.
func New(field, format string, args ...any) error {
	return &Error{Field: field, Err: fmt.Errorf(format, args...)}
}

// Wrap attributes err to field.
func Wrap(field string, err error) error { return &Error{Field: field, Err: err} }
