// Package depwait lets a service start before its dependencies
// (PostgreSQL, ClickHouse, the schema the api migrates) are there: it
// retries with backoff and logs why.
package depwait

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Retry calls f until it succeeds or ctx ends, backing off from half a
// second to 15 s between attempts. A failure is logged as a warning, a
// Pending one (something expected to come, e.g. the api's migrations) as
// information.
func Retry(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	backoff := 500 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if IsPending(err) {
			log.Info("waiting for "+what, "reason", err, "in", backoff)
		} else {
			log.Warn(what+" not ready; retrying", "error", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped before %s was ready: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 15*time.Second)
	}
}

// pendingError is a dependency that answers but is not there yet in the
// normal course of a start (a table another service creates).
type pendingError struct{ msg string }

func (p *pendingError) Error() string { return p.msg }

// Pending is an error saying that what is waited for is expected to come:
// Retry logs it as information, not as a warning.
func Pending(format string, args ...any) error {
	return &pendingError{msg: fmt.Sprintf(format, args...)}
}

// IsPending reports whether err is (or wraps) a Pending error.
func IsPending(err error) bool {
	var p *pendingError
	return errors.As(err, &p)
}
