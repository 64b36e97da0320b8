package harness

import (
	"bytes"
	"encoding/json"
	"net/http"
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
