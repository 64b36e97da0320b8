package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nanosiem/nano/services/search/query"
)

// A parse or compile failure that is not a *query.Error (an odd error from
// a lower layer) answers its own text at column 0 instead of panicking on
// the nil target errors.As left behind.
func TestQueryProblemOfAnyError(t *testing.T) {
	t.Parallel()
	if p := queryProblem(errors.New("lookup table too large")); p.Message != "lookup table too large" || p.Field != "query" || p.Column != 0 {
		t.Errorf("plain error: got %+v", p)
	}
	_, err := query.Parse("level=error | nosuchcommand")
	if err == nil {
		t.Fatal("the query should not parse")
	}
	wrapped := fmt.Errorf("cannot compile: %w", err)
	p := queryProblem(wrapped)
	var qe *query.Error
	if !errors.As(err, &qe) || p.Column != qe.Col || p.Field != "query" || p.Message != qe.Error() {
		t.Errorf("query error: got %+v, want the query's message at column %d", p, qe.Col)
	}
}
