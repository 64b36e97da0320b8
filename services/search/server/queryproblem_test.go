package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/search/admission"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/tests/harness"
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

// A typed nil *query.Error inside an error (errors.As finds it) is an odd
// error too: its text, never a nil dereference.
func TestQueryProblemOfATypedNil(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("cannot compile: %w", (*query.Error)(nil))
	if p := queryProblem(err); p.Column != 0 || p.Message == "" {
		t.Errorf("got %+v", p)
	}
}

// Odd errors through the handlers, from the real parts: the compiler's
// plain error (a cursor past the query's limit: not a *query.Error) is a
// clean 400 at column 0 for search; the runner's plain error (its
// ClickHouse connection closed) a clean 502 for an event search, a stats
// search and a histogram, and the history records both.
func TestOddErrorsAnswerCleanly(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_odd_errors", runner.Limits{}, admission.Config{})
	q := "| stats count() by n | sort n | limit 20"
	past := cursor{Hash: fingerprint("acme", q), From: now.Add(-time.Hour).UnixNano(), To: now.UnixNano(), Returned: 20, Offset: 20}.encode()
	code, r := f.search(t, f.acme, map[string]any{"query": q, "cursor": past})
	if code != 400 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "limit of 20 rows is reached") || r.Errors[0].Column != 0 {
		t.Errorf("a cursor past the limit: %d %+v", code, r.Errors)
	}

	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	broken := *f.srv
	broken.Runner = &runner.Runner{Conn: conn}
	hs := httptest.NewServer(broken.Handler())
	defer hs.Close()
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", hs.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.acme)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for path, body := range map[string]string{
		"/v1/search":    `{"query": "level:error odd-events"}`,
		"/v1/search ":   `{"query": "| stats count() by service"}`,
		"/v1/histogram": `{"query": "level:error"}`,
	} {
		code, b := post(strings.TrimSpace(path), body)
		var e jsonhttp.Envelope
		if json.Unmarshal([]byte(b), &e) != nil || code != http.StatusBadGateway || len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Message, "connection is closed") {
			t.Errorf("%s %s with a closed connection: %d %s, want 502 naming the error", path, body, code, b)
		}
	}
	var status, msg string
	if err := f.db.QueryRow(context.Background(), `SELECT status, error FROM search_history WHERE query = 'level:error odd-events'`).Scan(&status, &msg); err != nil ||
		status != "failed" || !strings.Contains(msg, "connection is closed") {
		t.Errorf("history of the failed search: %q %q (%v)", status, msg, err)
	}
}
