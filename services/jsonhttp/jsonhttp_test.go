package jsonhttp

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/nanosiem/nano/services/fielderr"
)

// Problems finds every joined error through wrapping, and each field error's
// field; an error of no field is its text.
func TestProblems(t *testing.T) {
	t.Parallel()
	joined := fmt.Errorf("invalid configuration for stack %q:\n%w", "s", errors.Join(
		fielderr.New("nano:tier", "%q is not a tier", "x"),
		errors.New("no field here"),
		fmt.Errorf("cannot X: %w", fielderr.New("nano:region", "empty")),
	))
	for _, c := range []struct {
		err  error
		want []Problem
	}{
		{nil, nil},
		{errors.New("plain"), []Problem{{Message: "plain"}}},
		{fmt.Errorf("wrapped: %w", fielderr.New("query", "bad")), []Problem{{Field: "query", Message: "bad"}}},
		{joined, []Problem{{Field: "nano:tier", Message: `"x" is not a tier`}, {Message: "no field here"}, {Field: "nano:region", Message: "empty"}}},
	} {
		if got := Problems(c.err); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Problems(%v) = %+v, want %+v", c.err, got, c.want)
		}
	}
}

// Fail always answers at least one problem; the envelope reads back as an
// error listing them.
func TestFail(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Fail(w, 404)
	if w.Code != 404 || w.Body.String() != `{"errors":[{"message":"Not Found"}]}`+"\n" {
		t.Errorf("no problems: %d %s", w.Code, w.Body)
	}
	e := Envelope{Errors: []Problem{{Field: "name", Message: "taken"}, {Message: "and more"}}}
	if e.Error() != "name: taken\nand more" {
		t.Errorf("Error() = %q", e.Error())
	}
}
