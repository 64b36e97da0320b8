// Package depwait lets a service start before its dependencies
// (PostgreSQL, ClickHouse) answer: it retries with backoff and logs why.
package depwait

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Retry calls f until it succeeds or ctx ends, backing off from half a
// second to 15 s between attempts.
func Retry(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	backoff := 500 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		log.Warn(what+" not ready; retrying", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped before %s was ready: %w", what, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 15*time.Second)
	}
}
