package tokens

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math"
	"strings"
	"sync"
	"time"
)

// Identity is who a token speaks for.
type Identity struct {
	Tenant, Feed string
	// Kind is the kind of the token's feed (http, hec, vector or otlp), which
	// decides the port it is accepted on (Accepts); empty accepts any.
	Kind string
	// RatePerSecond limits the token's events per second (burst: one
	// second's worth); 0 means unlimited.
	RatePerSecond float64
}

// Accepts reports whether the token may send on protocol ("http": the
// bearer port, "hec"): a feed's kind binds its tokens. An http feed's
// tokens are for the bearer port, a hec feed's for Splunk HEC, and a
// vector feed's for the bearer port too (the token a Vector agent's http
// sink sends; the Vector-native port authenticates by client certificate,
// not by token). OpenTelemetry logs ("otlp": POST /v1/logs and the OTLP
// gRPC port) take an otlp feed's tokens and, as they come to the bearer
// port too, an http feed's (the bootstrap token's).
func (id Identity) Accepts(protocol string) bool {
	switch id.Kind {
	case "", protocol:
		return true
	case "vector":
		return protocol == "http"
	case "http":
		return protocol == "otlp"
	}
	return false
}

// PortFor names where a token of kind is accepted, for error messages.
func PortFor(kind string) string {
	switch kind {
	case "hec":
		return "the Splunk HEC port (8088)"
	case "otlp":
		return "OTLP (POST /v1/logs on port 8080, or gRPC on port 4317)"
	case "syslog":
		return "the syslog TLS port (6514, in the messages' structured data)"
	}
	return "the bearer port (8080, POST /v1/events)"
}

// Store holds hashed tokens.
type Store struct {
	mu      sync.RWMutex
	entries []entry
}

type entry struct {
	hash [sha256.Size]byte
	id   Identity
	// fromDatabase marks tokens loaded from the api's database (replaced
	// as a whole on each sync); the others are the bootstrap tokens.
	fromDatabase bool
}

// Hash is the stored form of a token.
func Hash(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// MinTokenLength refuses guessable tokens.
const MinTokenLength = 16

// Add stores token for id.
func (s *Store) Add(token string, id Identity) error {
	token = strings.TrimSpace(token)
	if len(token) < MinTokenLength {
		return errors.New("token is shorter than 16 characters")
	}
	if id.Tenant == "" || id.Feed == "" {
		return errors.New("token needs a tenant and a feed")
	}
	s.AddHash(Hash(token), id)
	return nil
}

// AddHash stores an already hashed token (e.g. from the api's database).
func (s *Store) AddHash(h [sha256.Size]byte, id Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, entry{hash: h, id: id})
}

// ReplaceDatabaseTokens swaps the tokens loaded from the database for
// hashes (a sync); bootstrap tokens stay.
func (s *Store) ReplaceDatabaseTokens(hashes map[[sha256.Size]byte]Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.entries[:0:0]
	for _, e := range s.entries {
		if !e.fromDatabase {
			kept = append(kept, e)
		}
	}
	for h, id := range hashes {
		kept = append(kept, entry{hash: h, id: id, fromDatabase: true})
	}
	s.entries = kept
}

// Lookup returns the identity of token. Every stored hash is compared, in
// constant time, whatever matches.
func (s *Store) Lookup(token string) (Identity, bool) {
	h := Hash(token)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found Identity
	ok := 0
	for _, e := range s.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found, ok = e.id, 1
		}
	}
	return found, ok == 1
}

// Len is the number of stored tokens.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// Limiter is a token bucket per identity.
type Limiter struct {
	mu      sync.Mutex
	buckets map[Identity]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter on the wall clock.
func NewLimiter() *Limiter { return &Limiter{buckets: map[Identity]*bucket{}, now: time.Now} }

// Allow takes n events from id's bucket; it reports false (take nothing)
// when they exceed the rate, and how long until they would fit.
func (l *Limiter) Allow(id Identity, n int) (bool, time.Duration) {
	if id.RatePerSecond <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[id]
	burst := math.Max(id.RatePerSecond, 1)
	if !ok {
		b = &bucket{tokens: burst, last: now}
		l.buckets[id] = b
	}
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*id.RatePerSecond)
	b.last = now
	// A request larger than the burst passes on a full bucket and leaves
	// it in debt, so large batches are slowed, never refused forever.
	if float64(n) <= b.tokens || b.tokens >= burst {
		b.tokens -= float64(n)
		return true, 0
	}
	need := math.Min(float64(n), burst) - b.tokens
	return false, time.Duration(math.Ceil(need / id.RatePerSecond * float64(time.Second)))
}
