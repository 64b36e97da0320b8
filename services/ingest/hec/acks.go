package hec

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Bounds of the acknowledgement store.
const (
	maxChannels       = 10_000
	maxPendingPerChan = 100_000
	channelIdle       = 10 * time.Minute
)

// ackState is an acknowledgement id's state.
type ackState uint8

const (
	ackPending ackState = iota
	ackCommitted
	ackFailed
)

// channel holds a HEC channel's acknowledgement ids.
type channel struct {
	next     uint64
	acks     map[uint64]ackState
	lastSeen time.Time
}

// acks are the indexer acknowledgements of every channel. An id reports
// true once ClickHouse committed its events; it is forgotten after it was
// reported true (as Splunk does). Failed ids stay false: the client resends.
type acks struct {
	mu       sync.Mutex
	channels map[string]*channel
	pending  int
	now      func() time.Time

	// shared, when set, makes ids unique across replicas (blocks of
	// blockSize from it: next up to end) and records committed ones.
	shared    Shared
	log       *slog.Logger
	next, end uint64
	commits   chan committed
}

func newAcks() *acks { return &acks{channels: map[string]*channel{}, now: time.Now} }

// issue allocates the next id of ch; ok is false when the store is full
// (or, shared, when no ids can be had).
func (a *acks) issue(ch string) (id uint64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shared != nil && a.next == a.end {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		first, err := a.shared.NextBlock(ctx)
		cancel()
		if err != nil {
			if a.log != nil {
				a.log.Warn("no HEC acknowledgement ids", "error", err)
			}
			return 0, false
		}
		a.next, a.end = first, first+blockSize
	}
	now := a.now()
	c := a.channels[ch]
	if c == nil {
		a.expire(now)
		if len(a.channels) >= maxChannels {
			return 0, false
		}
		c = &channel{acks: map[uint64]ackState{}}
		a.channels[ch] = c
	}
	if len(c.acks) >= maxPendingPerChan {
		return 0, false
	}
	c.lastSeen = now
	if a.shared != nil {
		id = a.next
		a.next++
	} else {
		id = c.next
		c.next++
	}
	c.acks[id] = ackPending
	a.pending++
	return id, true
}

// settle records the commit's outcome of ch's id.
func (a *acks) settle(ch string, id uint64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.channels[ch]; c != nil {
		if _, ok := c.acks[id]; ok {
			c.acks[id] = ackCommitted
			if err != nil {
				c.acks[id] = ackFailed
			} else if a.shared != nil {
				select {
				case a.commits <- committed{ch: ch, id: id}:
				default:
				}
			}
		}
	}
}

// query reports each id of ch: true (committed; then forgotten) or false.
// Ids this replica did not issue are asked of the shared store, if any.
func (a *acks) query(ctx context.Context, ch string, ids []uint64) map[uint64]bool {
	a.mu.Lock()
	out := make(map[uint64]bool, len(ids))
	var foreign []uint64
	c := a.channels[ch]
	for _, id := range ids {
		out[id] = false
		state, ok := ackState(0), false
		if c != nil {
			state, ok = c.acks[id]
		}
		switch {
		case ok && state == ackCommitted:
			out[id] = true
			delete(c.acks, id)
			a.pending--
		case !ok:
			foreign = append(foreign, id)
		}
	}
	if c != nil {
		c.lastSeen = a.now()
	}
	a.mu.Unlock()
	if a.shared != nil && len(foreign) > 0 {
		ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		defer cancel()
		found, err := a.shared.Committed(ctx, ch, foreign)
		if err != nil && a.log != nil {
			a.log.Warn("cannot read shared HEC acknowledgements", "error", err)
		}
		for id := range found {
			out[id] = true
		}
	}
	return out
}

// pendingCount is the number of ids not yet reported true.
func (a *acks) pendingCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending
}

// expire drops channels idle for channelIdle (their ids with them).
func (a *acks) expire(now time.Time) {
	for name, c := range a.channels {
		if now.Sub(c.lastSeen) > channelIdle {
			a.pending -= len(c.acks)
			delete(a.channels, name)
		}
	}
}
