package depwait

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRetryUntilReadyOrCancelled(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	calls := 0
	err := Retry(context.Background(), log, "x", func(context.Context) error {
		calls++
		if calls < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Errorf("%d calls, %v", calls, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = Retry(ctx, log, "ClickHouse", func(context.Context) error { return errors.New("refused") })
	if err == nil || !strings.Contains(err.Error(), "before ClickHouse was ready: refused") {
		t.Errorf("%v", err)
	}
}
