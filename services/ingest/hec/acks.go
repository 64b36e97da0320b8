package hec

import (
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
}

func newAcks() *acks { return &acks{channels: map[string]*channel{}, now: time.Now} }

// issue allocates the next id of ch; ok is false when the store is full.
func (a *acks) issue(ch string) (id uint64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
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
	id = c.next
	c.next++
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
			}
		}
	}
}

// query reports each id of ch: true (committed; then forgotten) or false.
func (a *acks) query(ch string, ids []uint64) map[uint64]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[uint64]bool, len(ids))
	c := a.channels[ch]
	for _, id := range ids {
		out[id] = false
		if c == nil {
			continue
		}
		if state, ok := c.acks[id]; ok && state == ackCommitted {
			out[id] = true
			delete(c.acks, id)
			a.pending--
		}
	}
	if c != nil {
		c.lastSeen = a.now()
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
