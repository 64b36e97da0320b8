// Package httpstatus records the status code a handler answered with, for
// the services' request metrics.
package httpstatus

import "net/http"

// Writer is an http.ResponseWriter that remembers its status code; it
// passes Flush through so streamed responses still stream.
type Writer struct {
	http.ResponseWriter
	code int
}

// Wrap records w's status.
func Wrap(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// Code is the status sent (0 when nothing was).
func (w *Writer) Code() int { return w.code }

// WriteHeader records the first status.
func (w *Writer) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (w *Writer) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes the underlying writer when it can.
func (w *Writer) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
