package depwait

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRetryUntilReadyOrCancelled(t *testing.T) {
	t.Parallel()
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

// A Pending error is retried like any other and logged as information;
// a real failure as a warning.
func TestPendingIsInformation(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	calls := 0
	err := Retry(context.Background(), log, "the schema", func(context.Context) error {
		calls++
		switch calls {
		case 1:
			return fmt.Errorf("table: %w", Pending("the api has not created it"))
		case 2:
			return errors.New("permission denied")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("%d calls, %v", calls, err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "the api has not created it") ||
		!strings.Contains(lines[1], "level=WARN") || !strings.Contains(lines[1], "permission denied") {
		t.Errorf("logs:\n%s", logs.String())
	}
	if IsPending(errors.New("x")) || !IsPending(fmt.Errorf("w: %w", Pending("y"))) {
		t.Error("IsPending")
	}
}
