package server

import (
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/tests/harness"
)

// Every error of the api is the one envelope (docs/reference/errors.md):
// {"errors":[{"message", "field"?, "column"?, "limit"?}]} and nothing
// else, naming the field at fault where there is one.
func TestErrorEnvelope(t *testing.T) {
	harness.Servers(t)
	f := setup(t, "api_envelope")
	rule := `{"name":"r","query":"level:error","schedule":"@every 5m","window_seconds":300,"threshold_op":">","threshold":1}`
	if code, out := f.call(t, "POST", "/v1/rules", f.admin, rule); code != 201 {
		t.Fatalf("a rule: %d %v", code, out)
	}
	for _, c := range []struct {
		name, method, path, token, body string
		code                            int
		want                            jsonhttp.Problem // Message: a part of it
	}{
		{"no token", "GET", "/v1/rules", "", "", 401, jsonhttp.Problem{Message: "token"}},
		{"scope", "POST", "/v1/rules", f.reader, rule, 403, jsonhttp.Problem{Message: "write scope"}},
		{"validation", "POST", "/v1/rules", f.admin, strings.Replace(rule, `"window_seconds":300`, `"window_seconds":5`, 1), 400,
			jsonhttp.Problem{Field: "window_seconds"}},
		{"query", "POST", "/v1/rules", f.admin, strings.Replace(rule, `"level:error"`, `"level:error ("`, 1), 400,
			jsonhttp.Problem{Field: "query", Column: 14}},
		{"type", "POST", "/v1/rules", f.admin, `{"name":5}`, 400, jsonhttp.Problem{Field: "name", Message: "expected string"}},
		{"unknown member", "POST", "/v1/rules", f.admin, `{"colour":"blue"}`, 400, jsonhttp.Problem{Message: `unknown field "colour"`}},
		{"two values", "POST", "/v1/rules", f.admin, rule + rule, 400, jsonhttp.Problem{Message: "more than one JSON value"}},
		{"too big", "POST", "/v1/rules", f.admin, `{"name":"` + strings.Repeat("x", 9<<10) + `"}`, 413, jsonhttp.Problem{Message: "over 8192 bytes"}},
		{"duplicate", "POST", "/v1/rules", f.admin, rule, 409, jsonhttp.Problem{Field: "name", Message: "taken"}},
		{"not found", "GET", "/v1/rules/999999", f.admin, "", 404, jsonhttp.Problem{Message: "not found"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			harness.CheckEnvelope(t, c.method, f.url+"/api"+c.path, c.token, c.body, c.code, c.want)
		})
	}
}
