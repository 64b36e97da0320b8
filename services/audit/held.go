package audit

import (
	"bytes"
	"net/http"
)

// Held holds a handler's response until its change is committed with its
// audit entry (api's and search's audited routes): nothing reaches the
// client before the trail does.
type Held struct {
	header http.Header
	// Code is the status the handler wrote (0 until it writes; a Write
	// without a WriteHeader is 200); Body what it wrote.
	Code int
	Body bytes.Buffer
}

// NewHeld returns an empty held response.
func NewHeld() *Held { return &Held{header: http.Header{}} }

func (w *Held) Header() http.Header { return w.header }

func (w *Held) WriteHeader(code int) {
	if w.Code == 0 {
		w.Code = code
	}
}

func (w *Held) Write(b []byte) (int, error) {
	if w.Code == 0 {
		w.Code = http.StatusOK
	}
	return w.Body.Write(b)
}

// Flush sends the held response to the client.
func (w *Held) Flush(to http.ResponseWriter) {
	for k, v := range w.header {
		to.Header()[k] = v
	}
	to.WriteHeader(w.Code)
	to.Write(w.Body.Bytes())
}
