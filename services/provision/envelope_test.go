package provision

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nanosiem/nano/tests/harness"
)

// Every error of the endpoint is the one envelope of nano's HTTP services
// (docs/reference/errors.md), read into the endpoint's own ErrorBody and
// nothing else: a problem per thing wrong, each naming its field or
// config key where there is one.
func TestErrorEnvelope(t *testing.T) {
	harness.Servers(t)
	m := newManager(t, t.TempDir(), 1)
	srv := httptest.NewServer(Handler(m, testToken, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	type want struct{ field, message string }
	for _, c := range []struct {
		name, method, path, token, body string
		code                            int
		want                            []want // each a problem, in order; message: a part of it
	}{
		{"no token", "GET", "/v1/deployments", "", "", 401, []want{{"", "a valid token is required"}}},
		{"validation", "POST", "/v1/deployments", testToken,
			`{"name":"Web!","tier":"hobby","provider":"hetzner","region":"fsn1","config":{"hcloud:endpoint":"x"},"credentials":{"awsRoleArn":"nope"}}`, 400,
			[]want{{"name", `"Web!"`}, {"config.hcloud:endpoint", "is not a key nano accepts"}, {"credentials.awsRoleArn", "is not an IAM role ARN"}}},
		{"program's validation", "POST", "/v1/deployments", testToken,
			`{"name":"web","tier":"hobby","provider":"aws","region":"eu-central-1","config":{"retentionDays":"9999"}}`, 400,
			[]want{{"nano:provider", `tier "hobby" does not run on "aws"`}, {"nano:retentionDays", "9999 is outside"}}},
		{"type", "POST", "/v1/deployments", testToken, `{"name":5}`, 400, []want{{"name", "expected string"}}},
		{"unknown member", "POST", "/v1/deployments", testToken, `{"colour":"blue"}`, 400, []want{{"", `unknown field "colour"`}}},
		{"too big", "POST", "/v1/deployments", testToken, `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 413, []want{{"", "over 1048576 bytes"}}},
		{"rename", "PUT", "/v1/deployments/web", testToken, `{"name":"other"}`, 400, []want{{"name", "differs from the path"}}},
		{"token name", "POST", "/v1/tokens", testToken, `{"deployment":"web","name":"<script>"}`, 400, []want{{"name", "at most 64"}}},
		{"not found", "GET", "/v1/deployments/nope", testToken, "", 404, []want{{"", "not found"}}},
		{"upgrade", "POST", "/v1/deployments/nope/upgrade", testToken, `{"name":"nope2","tier":"team","move":{}}`, 404, []want{{"", "not found"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body ErrorBody
			harness.ErrorEnvelope(t, resp, &body)
			if resp.StatusCode != c.code || len(body.Errors) != len(c.want) {
				t.Fatalf("%d %+v, want %d %+v", resp.StatusCode, body.Errors, c.code, c.want)
			}
			for i, w := range c.want {
				if p := body.Errors[i]; p.Field != w.field || !strings.Contains(p.Message, w.message) {
					t.Errorf("problem %d: %+v, want field %q and %q", i, p, w.field, w.message)
				}
			}
		})
	}
}
