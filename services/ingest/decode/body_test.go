package decode

import (
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func gzipped(t *testing.T, members ...[]byte) []byte {
	t.Helper()
	var z bytes.Buffer
	for _, m := range members {
		w := gzip.NewWriter(&z)
		if _, err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return z.Bytes()
}

// body runs Body on a gzip request and records what grow was asked.
func body(t *testing.T, l Limits, raw []byte) (out []byte, asked []int64, err error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(raw))
	r.Header.Set("Content-Encoding", "gzip")
	out, err = Body(httptest.NewRecorder(), r, l, func(total int64) bool { asked = append(asked, total); return true })
	return out, asked, err
}

// A gzip body is decoded into one buffer sized from its trailer; a bomb
// whose trailer declares more than the limit is refused uninflated; a
// stream of members whose last trailer understates the whole is still
// cut at the limit while it inflates.
func TestGzipBodyIsSizedAndBoundedByItsTrailer(t *testing.T) {
	t.Parallel()
	l := Limits{MaxBodyBytes: 1 << 20, MaxDecodedBytes: 1 << 20}
	text := []byte(strings.Repeat("event line\n", 50_000)) // 550,000 bytes
	out, asked, err := body(t, l, gzipped(t, text))
	if err != nil || !bytes.Equal(out, text) {
		t.Fatalf("a gzip body of %d bytes: %d bytes, %v", len(text), len(out), err)
	}
	if len(asked) != 1 || asked[0] < int64(len(text)) {
		t.Errorf("grow asked %v for a body of %d bytes, want once for all of it (no regrowth)", asked, len(text))
	}

	bomb := gzipped(t, make([]byte, 64<<20))
	_, asked, err = body(t, l, bomb)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge || !strings.Contains(e.Msg, "declares 67108864") {
		t.Fatalf("a gzip bomb: %v", err)
	}
	if len(asked) != 0 {
		t.Errorf("a bomb was given room to inflate: %v", asked)
	}

	members := gzipped(t, make([]byte, 900<<10), make([]byte, 200<<10))
	_, asked, err = body(t, l, members)
	if !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge || !strings.Contains(e.Msg, "decompressed") {
		t.Fatalf("members of 1.1 MiB in all, the last declaring 200 KiB: %v", err)
	}
	for _, n := range asked {
		if n > 4*l.MaxDecodedBytes {
			t.Errorf("grow asked %d bytes for a limit of %d", n, l.MaxDecodedBytes)
		}
	}

	if _, _, err = body(t, l, []byte("not gzip at all, but long enough")); !errors.As(err, &e) || e.Status != http.StatusBadRequest {
		t.Errorf("a body that is not gzip: %v", err)
	}
}
