// Package jsonhttp is how the api and search services speak JSON over HTTP:
// one error body, one way to reply and one strict way to read a request
// body.
package jsonhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong and, when it is known, where.
type ErrorDetail struct {
	Message string `json:"message"`
	// Field names the request field at fault.
	Field string `json:"field,omitempty"`
	// Column points into a query (1-based) for query errors.
	Column int `json:"column,omitempty"`
	// Limit names the per-tenant limit a refused creation reached (its
	// variable, e.g. NANO_API_MAX_SIGNAL_RULES).
	Limit string `json:"limit,omitempty"`
}

// Reply writes v as a JSON response with status code.
func Reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Fail writes an error response.
func Fail(w http.ResponseWriter, code int, d ErrorDetail) {
	Reply(w, code, ErrorBody{Error: d})
}

// Decode reads exactly one JSON value from the request body into v,
// rejecting unknown fields. On failure it writes the error response (413
// over the body limit, 400 otherwise, naming the field of a type error)
// and returns false.
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			Fail(w, http.StatusRequestEntityTooLarge, ErrorDetail{Message: fmt.Sprintf("the body is over %d bytes", tooBig.Limit)})
		case errors.As(err, &typeErr):
			Fail(w, http.StatusBadRequest, ErrorDetail{Message: fmt.Sprintf("expected %s", typeErr.Type), Field: typeErr.Field})
		default:
			Fail(w, http.StatusBadRequest, ErrorDetail{Message: "the body is not the expected JSON: " + err.Error()})
		}
		return false
	}
	if d.More() {
		Fail(w, http.StatusBadRequest, ErrorDetail{Message: "the body has more than one JSON value"})
		return false
	}
	return true
}
