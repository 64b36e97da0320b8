// Package diskguard stops ingest before ClickHouse's disk is full: it reads
// the disk's free share every interval and, below the configured minimum,
// has every protocol refuse new events (503) until there is room again.
// Nothing stored is deleted to make room: a SIEM keeps its evidence, the
// shippers keep their queues, and the operator (alerted by
// NanoIngestRefusingDiskFull) grows the volume or shortens the retention.
package diskguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/telemetry"
)

// Probe reads the free share (0-1) of ClickHouse's disk.
type Probe func(ctx context.Context) (float64, error)

// Guard refuses events while the disk is nearly full.
type Guard struct {
	// MinFree is the free share below which events are refused (0: the
	// guard is off); they are taken again from MinFree + Hysteresis.
	MinFree float64
	Probe   Probe
	// Interval is how often the disk is read (15 s).
	Interval time.Duration
	Metrics  *telemetry.Metrics
	Log      *slog.Logger

	mu       sync.Mutex
	free     float64
	refusing bool
}

// Hysteresis is how far above MinFree the disk must be before events are
// taken again, so a disk hovering at the threshold does not flap.
const Hysteresis = 0.01

// DefaultInterval is Interval's default.
const DefaultInterval = 15 * time.Second

// Refusing reports whether events are refused, with the free share last
// read and a message for the client.
func (g *Guard) Refusing() (bool, string) {
	if g == nil {
		return false, ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.refusing {
		return false, ""
	}
	return true, fmt.Sprintf("ClickHouse's disk is %.1f%% free, below the %.0f%% at which ingest stops taking events so that nothing stored has to be deleted; "+
		"nothing was accepted: keep the events and retry later (the operator is alerted)", g.free*100, g.MinFree*100)
}

// Check reads the disk once and updates the state.
func (g *Guard) Check(ctx context.Context) error {
	free, err := g.Probe(ctx)
	if err != nil {
		return err
	}
	g.mu.Lock()
	was := g.refusing
	g.free = free
	switch {
	case free < g.MinFree:
		g.refusing = true
	case free >= g.MinFree+Hysteresis:
		g.refusing = false
	}
	now := g.refusing
	g.mu.Unlock()
	g.Metrics.DiskFree.Set(free)
	if now {
		g.Metrics.DiskRefusing.Set(1)
	} else {
		g.Metrics.DiskRefusing.Set(0)
	}
	switch {
	case now && !was:
		g.Log.Error("ClickHouse's disk is nearly full: ingest refuses new events (503) until there is room; nothing stored is deleted",
			"free", free, "min_free", g.MinFree)
	case was && !now:
		g.Log.Info("ClickHouse's disk has room again: ingest takes events", "free", free)
	}
	return nil
}

// Run checks every Interval until ctx ends. A server without a view of
// its disk turns the guard off (logged once); other failed reads keep the
// last state.
func (g *Guard) Run(ctx context.Context) {
	if g == nil || g.MinFree <= 0 {
		return
	}
	interval := g.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	for {
		err := g.Check(ctx)
		switch {
		case errors.Is(err, events.ErrNoDiskView):
			g.Log.Warn("ingest's disk guard is off", "reason", err.Error())
			return
		case err != nil && ctx.Err() == nil:
			g.Metrics.DiskCheckErrors.Inc()
			g.Log.Warn("cannot read ClickHouse's free disk space; the last reading stands", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
