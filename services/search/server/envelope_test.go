package server

import (
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/search/admission"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/tests/harness"
)

// Every error of search is the one envelope (docs/reference/errors.md):
// {"errors":[{"message", "field"?, "column"?, "limit"?}]} and nothing
// else; a query's problems name the field "query" and keep their column.
func TestErrorEnvelope(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "search_envelope", runner.Limits{}, admission.Config{})
	for _, c := range []struct {
		name, method, path, token, body string
		code                            int
		want                            jsonhttp.Problem // Message: a part of it
	}{
		{"no token", "POST", "/v1/search", "", `{"query":"x"}`, 401, jsonhttp.Problem{Message: "token"}},
		{"scope", "POST", "/v1/search", f.noScope, `{"query":"x"}`, 403, jsonhttp.Problem{Message: "search scope"}},
		{"parse", "POST", "/v1/search", f.acme, `{"query":"level:error (a OR"}`, 400,
			jsonhttp.Problem{Field: "query", Column: 18, Message: "expected a search term"}},
		{"compile", "POST", "/v1/histogram", f.acme, `{"query":"x>abc"}`, 400, jsonhttp.Problem{Field: "query", Column: 3}},
		{"time", "POST", "/v1/search", f.acme, `{"query":"x","from":"yesterday-ish"}`, 400, jsonhttp.Problem{Field: "from", Message: "expected a time"}},
		{"range", "POST", "/v1/histogram", f.acme, `{"query":"x","from":"-1h","to":"-2h"}`, 400, jsonhttp.Problem{Field: "to", Message: "before from"}},
		{"page size", "POST", "/v1/search", f.acme, `{"query":"x","page_size":100000}`, 400, jsonhttp.Problem{Field: "page_size"}},
		{"cursor", "POST", "/v1/search", f.acme, `{"query":"x","cursor":"!!"}`, 400, jsonhttp.Problem{Field: "cursor"}},
		{"type", "POST", "/v1/search", f.acme, `{"query":5}`, 400, jsonhttp.Problem{Field: "query", Message: "expected string"}},
		{"too big", "POST", "/v1/search", f.acme, `{"query":"` + strings.Repeat("x", 5<<10) + `"}`, 413, jsonhttp.Problem{Message: "over 4096 bytes"}},
		{"list limit", "GET", "/v1/history?limit=0", f.acme, "", 400, jsonhttp.Problem{Field: "limit"}},
		{"saved name", "POST", "/v1/saved-searches", f.acme, `{"name":"","query":"x"}`, 400, jsonhttp.Problem{Field: "name"}},
		{"saved query", "POST", "/v1/saved-searches", f.acme, `{"name":"n","query":"a OR"}`, 400, jsonhttp.Problem{Field: "query", Column: 5}},
		{"not found", "GET", "/v1/saved-searches/999999", f.acme, "", 404, jsonhttp.Problem{Message: "no such saved search"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			harness.CheckEnvelope(t, c.method, f.url+"/search"+c.path, c.token, c.body, c.code, c.want)
		})
	}
}
