package harness

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/jsonhttp"
)

// ErrorEnvelope reads an error answer as nano's error envelope
// (docs/reference/errors.md) into v (a jsonhttp.Envelope, or a type that
// embeds one with a service's extra members) and fails t unless the answer
// is JSON holding exactly v's members, with at least one problem, each
// with a message.
func ErrorEnvelope(t testing.TB, resp *http.Response, v interface{ Problems() []jsonhttp.Problem }) {
	t.Helper()
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(resp.Body); err != nil {
		t.Fatalf("cannot read the answer: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%d: Content-Type %q, not the error envelope: %s", resp.StatusCode, ct, raw.Bytes())
	}
	d := json.NewDecoder(bytes.NewReader(raw.Bytes()))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil || len(v.Problems()) == 0 {
		t.Fatalf("%d: not the error envelope (%v): %s", resp.StatusCode, err, raw.Bytes())
	}
	for _, p := range v.Problems() {
		if p.Message == "" {
			t.Errorf("%d: a problem without a message: %s", resp.StatusCode, raw.Bytes())
		}
	}
}

// CheckEnvelope sends a request to url (with token as a bearer when set)
// and checks it fails with code and the error envelope, whose first
// problem has want's Field and Column and a part of its Message.
func CheckEnvelope(t *testing.T, method, url, token, body string, code int, want jsonhttp.Problem) {
	t.Helper()
	resp := Send(t, method, url, token, body)
	defer resp.Body.Close()
	var env jsonhttp.Envelope
	ErrorEnvelope(t, resp, &env)
	got := env.Errors[0]
	if resp.StatusCode != code || got.Field != want.Field || got.Column != want.Column || !strings.Contains(got.Message, want.Message) {
		t.Errorf("%d %+v, want %d %+v", resp.StatusCode, env.Errors, code, want)
	}
}

// RequestBody is a test request's body: a string as is, anything else but
// nil as JSON (nil: no body). It fails t when body cannot be encoded.
func RequestBody(t testing.TB, body any) io.Reader {
	t.Helper()
	if s, ok := body.(string); ok {
		return strings.NewReader(s)
	}
	if body == nil {
		return nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// Send sends body (a string as is, anything else but nil as JSON) to url,
// with token as a bearer when set, and fails t when no answer comes. The
// caller closes the answer's body.
func Send(t testing.TB, method, url, token string, body any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, RequestBody(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// FirstProblem is the first problem of an error envelope decoded as JSON
// ({"errors":[{"message","field",...}]}, docs/reference/errors.md), nil
// when there is none.
func FirstProblem(out map[string]any) map[string]any {
	list, _ := out["errors"].([]any)
	if len(list) == 0 {
		return nil
	}
	p, _ := list[0].(map[string]any)
	return p
}
