package diskguard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nanosiem/nano/services/ingest/telemetry"
)

// Below MinFree events are refused, with a message naming the reading and
// the threshold; they are taken again only from MinFree + 1 point; a
// failed reading keeps the state.
func TestGuardRefusesBelowMinFree(t *testing.T) {
	t.Parallel()
	free := 0.5
	var fail error
	m := telemetry.New()
	g := &Guard{MinFree: 0.10, Metrics: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Probe: func(context.Context) (float64, error) { return free, fail }}
	check := func(f float64, want bool) {
		t.Helper()
		free = f
		if err := g.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, _ := g.Refusing(); got != want {
			t.Errorf("at %.3f free: refusing %v, want %v", f, got, want)
		}
	}
	check(0.5, false)
	check(0.099, true)
	if _, msg := g.Refusing(); !strings.Contains(msg, "9.9% free, below the 10%") {
		t.Errorf("message %q", msg)
	}
	if testutil.ToFloat64(m.DiskRefusing) != 1 || testutil.ToFloat64(m.DiskFree) != 0.099 {
		t.Errorf("gauges %v %v", testutil.ToFloat64(m.DiskRefusing), testutil.ToFloat64(m.DiskFree))
	}
	check(0.105, true) // within the hysteresis
	fail = errors.New("ClickHouse down")
	if err := g.Check(context.Background()); err == nil {
		t.Error("a failed reading returned no error")
	}
	if got, _ := g.Refusing(); !got {
		t.Error("a failed reading changed the state")
	}
	fail = nil
	check(0.11, false)
	if testutil.ToFloat64(m.DiskRefusing) != 0 {
		t.Error("the gauge stayed 1")
	}
	var off *Guard
	if got, _ := off.Refusing(); got {
		t.Error("no guard refuses")
	}
}
