// Package jsonhttp is how nano's HTTP services (api, search, the
// provisioning endpoint) speak JSON: one error envelope, one way to reply
// and one strict way to read a request body. docs/reference/errors.md
// documents the envelope.
package jsonhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nanosiem/nano/services/fielderr"
)

// Envelope is the body of every error response: every problem found, at
// least one. A service may add members beside "errors" (the provisioning
// endpoint's "operation" on a 409), never inside a problem.
type Envelope struct {
	Errors []Problem `json:"errors"`
}

// Problem says what went wrong and, when it is known, where.
type Problem struct {
	Message string `json:"message"`
	// Field names the request field at fault ("query", "config.nano:tier",
	// "move.sourceClickhouse"): a JSON member path, a query parameter, or a
	// Pulumi config key under the field that carries it.
	Field string `json:"field,omitempty"`
	// Column points into the field's text (1-based, in bytes) for a query
	// that does not parse or compile.
	Column int `json:"column,omitempty"`
	// Limit names the per-tenant limit a refused creation reached (its
	// variable, e.g. NANO_API_MAX_SIGNAL_RULES).
	Limit string `json:"limit,omitempty"`
}

// String is "field: message", or the message alone when no field is named.
func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// Error lists the problems, one a line: an envelope a client read is an
// error it can return.
func (e Envelope) Error() string {
	lines := make([]string, len(e.Errors))
	for i, p := range e.Errors {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Problems are the envelope's problems (for readers of envelopes and of
// types that embed one).
func (e *Envelope) Problems() []Problem { return e.Errors }

// Reply writes v as a JSON response with status code.
func Reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Fail writes an error response: the envelope of problems.
func Fail(w http.ResponseWriter, code int, problems ...Problem) {
	if len(problems) == 0 {
		problems = []Problem{{Message: http.StatusText(code)}}
	}
	Reply(w, code, Envelope{Errors: problems})
}

// Problems turns err into problems: one per error joined in it
// (errors.Join, found through any wrapping), each naming the field of a
// *fielderr.Error. A wrapping's own words are dropped when it joins
// several, which carry their own.
func Problems(err error) []Problem {
	if err == nil {
		return nil
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			var out []Problem
			for _, x := range j.Unwrap() {
				out = append(out, Problems(x)...)
			}
			return out
		}
	}
	var fe *fielderr.Error
	if errors.As(err, &fe) {
		return []Problem{{Field: fe.Field, Message: fe.Err.Error()}}
	}
	return []Problem{{Message: err.Error()}}
}

// Decode reads exactly one JSON value from the request body into v,
// rejecting unknown fields. On failure it writes the error response (413
// over the body limit, 400 otherwise, naming the field of a type error) and returns false.
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			Fail(w, http.StatusRequestEntityTooLarge, Problem{Message: fmt.Sprintf("the body is over %d bytes", tooBig.Limit)})
		case errors.As(err, &typeErr):
			Fail(w, http.StatusBadRequest, Problem{Message: fmt.Sprintf("expected %s", typeErr.Type), Field: typeErr.Field})
		default:
			Fail(w, http.StatusBadRequest, Problem{Message: "the body is not the expected JSON: " + err.Error()})
		}
		return false
	}
	if d.More() {
		Fail(w, http.StatusBadRequest, Problem{Message: "the body has more than one JSON value"})
		return false
	}
	return true
}
