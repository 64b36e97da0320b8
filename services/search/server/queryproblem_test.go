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
	if msg, col := queryProblem(errors.New("lookup table too large")); msg != "lookup table too large" || col != 0 {
		t.Errorf("plain error: got %q at %d", msg, col)
	}
	_, err := query.Parse("level=error | nosuchcommand")
	if err == nil {
		t.Fatal("the query should not parse")
	}
	wrapped := fmt.Errorf("cannot compile: %w", err)
	msg, col := queryProblem(wrapped)
	var qe *query.Error
	if !errors.As(err, &qe) || col != qe.Col || msg != "query: "+qe.Error() {
		t.Errorf("query error: got %q at %d, want the query's message at column %d", msg, col, qe.Col)
	}
}
