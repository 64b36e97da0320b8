package tokens

import (
	"testing"
	"time"
)

func TestStoreLooksUpByHash(t *testing.T) {
	s := &Store{}
	if err := s.Add("short", Identity{Tenant: "a", Feed: "b"}); err == nil {
		t.Error("accepted a short token")
	}
	if err := s.Add("0123456789abcdef-one", Identity{Tenant: "acme", Feed: "http"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("0123456789abcdef-two", Identity{Tenant: "acme", Feed: "hec"}); err != nil {
		t.Fatal(err)
	}
	if id, ok := s.Lookup("0123456789abcdef-two"); !ok || id.Feed != "hec" {
		t.Errorf("lookup: %v %v", id, ok)
	}
	if _, ok := s.Lookup("0123456789abcdef-thr"); ok {
		t.Error("an unknown token matched")
	}
	for _, e := range s.entries {
		if string(e.hash[:]) == "0123456789abcdef-one" {
			t.Error("a token is stored in plain text")
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter()
	l.now = func() time.Time { return now }
	id := Identity{Tenant: "t", Feed: "f", RatePerSecond: 100}
	if ok, _ := l.Allow(id, 60); !ok {
		t.Fatal("first 60 of a 100/s bucket refused")
	}
	ok, wait := l.Allow(id, 60)
	if ok || wait != 200*time.Millisecond {
		t.Errorf("second 60: %v, wait %v; want refused, 200ms", ok, wait)
	}
	now = now.Add(200 * time.Millisecond)
	if ok, _ := l.Allow(id, 60); !ok {
		t.Error("refused after the bucket refilled")
	}
	// A request larger than the burst passes on a full bucket, then waits.
	now = now.Add(time.Hour)
	if ok, _ := l.Allow(id, 500); !ok {
		t.Error("a 500-event request never fits a 100/s bucket")
	}
	if ok, wait := l.Allow(id, 1); ok || wait < 4*time.Second {
		t.Errorf("after 500 events: %v, wait %v", ok, wait)
	}
	if ok, _ := l.Allow(Identity{Tenant: "t", Feed: "free"}, 1<<20); !ok {
		t.Error("an unlimited token was limited")
	}
}

// A feed's kind binds its tokens to a port.
func TestKindsBindTokens(t *testing.T) {
	for _, c := range []struct {
		kind, protocol string
		ok             bool
	}{
		{"http", "http", true}, {"http", "hec", false},
		{"hec", "hec", true}, {"hec", "http", false},
		{"vector", "http", true}, {"vector", "hec", false},
		{"", "hec", true}, {"", "http", true},
		{"otlp", "otlp", true}, {"otlp", "http", false}, {"otlp", "hec", false},
		{"http", "otlp", true}, {"hec", "otlp", false}, {"vector", "otlp", false},
	} {
		if got := (Identity{Kind: c.kind}).Accepts(c.protocol); got != c.ok {
			t.Errorf("a %q token on %q: %v, want %v", c.kind, c.protocol, got, c.ok)
		}
	}
}
