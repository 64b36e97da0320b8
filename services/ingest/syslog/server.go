package syslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
	"github.com/nanosiem/nano/services/ingest/writer"
)

// Protocol is the intake protocol of every syslog transport (the label of
// the ingest metrics, and the kind of the feeds whose tokens it takes).
const Protocol = "syslog"

// Transports (the transport label of the connection metrics).
const (
	TransportTLS = "tls"
	TransportTCP = "tcp"
	TransportUDP = "udp"
)

// FeedURIPrefix starts the URI SAN of a client certificate issued for a
// feed: urn:nano:feed:<tenant>:<feed>.
const FeedURIPrefix = "urn:nano:feed:"

// Source is a network whose plain TCP and UDP messages are taken, and the
// tenant and feed they belong to (the operator's word: syslog without TLS
// carries no credential).
type Source struct {
	Net netip.Prefix
	ID  tokens.Identity
}

// Config bounds the port.
type Config struct {
	// MaxMessageBytes: longer messages are cut to it (and marked).
	MaxMessageBytes int
	// MaxConnections: TCP and TLS connections at once; more are closed.
	MaxConnections int
	// IdleTimeout: a connection is closed when no whole message arrived
	// for this long.
	IdleTimeout time.Duration
	// ConnEventsPerSecond slows the reading of one connection to this rate
	// (0: unlimited), with a one-second burst.
	ConnEventsPerSecond float64
	// PendingBytes bounds the messages read and not yet committed, all
	// connections together; a connection waits (is not read) for room.
	PendingBytes int64
	// ConnPendingBytes bounds them per connection.
	ConnPendingBytes int64
	// BatchEvents is the most events committed at once per connection.
	BatchEvents int
	// Sources attribute plain TCP connections, UDPSources datagrams (none:
	// every plain connection or datagram is refused).
	Sources, UDPSources []Source
	// RatePerSecond is the rate of certificate and source identities (the
	// tokens' own rate for token identities).
	RatePerSecond float64
}

// DefaultConfig are the port's defaults.
var DefaultConfig = Config{MaxMessageBytes: 64 << 10, MaxConnections: 1000, IdleTimeout: 5 * time.Minute,
	ConnEventsPerSecond: 50_000, PendingBytes: 64 << 20, ConnPendingBytes: 4 << 20, BatchEvents: 10_000}

// Server serves the syslog transports into an intake.
type Server struct {
	in      *intake.Intake
	cfg     Config
	conns   chan struct{}
	pending *semaphore.Weighted
	wg      sync.WaitGroup
	// Drain bounds how long events read before a shutdown wait for their
	// commit (30 s).
	Drain time.Duration
}

// New returns a server; in.Protocol should be Protocol.
func New(in *intake.Intake, cfg Config) *Server {
	return &Server{in: in, cfg: cfg, conns: make(chan struct{}, cfg.MaxConnections),
		pending: semaphore.NewWeighted(max(cfg.PendingBytes, int64(cfg.MaxMessageBytes))), Drain: 30 * time.Second}
}

// Wait waits for the connections to end (after their contexts did).
func (s *Server) Wait() { s.wg.Wait() }

func (s *Server) refused(transport, reason string) {
	s.in.Metrics.SyslogRefused.WithLabelValues(transport, reason).Inc()
}

// source returns the identity of addr's network, if the operator listed it.
func (s *Server) source(addr net.Addr, sources []Source) (tokens.Identity, bool) {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		return tokens.Identity{}, false
	}
	ip = ip.Unmap()
	for _, src := range sources {
		if src.Net.Contains(ip) {
			return src.ID, true
		}
	}
	return tokens.Identity{}, false
}

// ServeTCP serves ln until ctx ends: transport TransportTLS (ln a TLS
// listener: clients with a certificate are attributed by it, the others
// by tokens in their messages) or TransportTCP (clients of Sources only).
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener, transport string) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("cannot accept syslog connections: %w", err)
		}
		select {
		case s.conns <- struct{}{}:
		default:
			s.refused(transport, "connection_limit")
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.conns }()
			s.handle(ctx, c, transport)
		}()
	}
}

// item is one attributed event read from a connection.
type item struct {
	ev events.Event
	id tokens.Identity
	n  int64 // bytes held in the pending budgets
}

// attribution is how a connection's messages are attributed: all to
// fixed (a certificate or a source network), or each by its token.
type attribution struct {
	fixed  *tokens.Identity
	tokens bool
}

func (s *Server) handle(ctx context.Context, c net.Conn, transport string) {
	defer c.Close()
	log := s.in.Log.With("transport", transport, "remote", c.RemoteAddr().String())
	var at attribution
	switch transport {
	case TransportTLS:
		tc := c.(*tls.Conn)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			s.refused(transport, "handshake")
			log.Debug("syslog TLS handshake failed", "error", err)
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			id, err := CertIdentity(certs[0], s.cfg.RatePerSecond)
			if err != nil {
				s.refused(transport, "certificate")
				log.Warn("syslog client certificate names no feed: connection closed", "subject", certs[0].Subject.String(), "error", err)
				return
			}
			at.fixed = &id
		} else {
			at.tokens = true
		}
	default:
		id, ok := s.source(c.RemoteAddr(), s.cfg.Sources)
		if !ok {
			s.refused(transport, "source")
			return
		}
		at.fixed = &id
	}
	s.in.Metrics.SyslogConnections.WithLabelValues(transport).Inc()
	defer s.in.Metrics.SyslogConnections.WithLabelValues(transport).Dec()
	// The reader stops at the end of ctx; what it read is committed.
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(readCtx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	items := make(chan item, s.cfg.BatchEvents)
	conn := semaphore.NewWeighted(max(s.cfg.ConnPendingBytes, int64(s.cfg.MaxMessageBytes)))
	go func() {
		defer close(items)
		if err := s.read(readCtx, c, at, conn, items); err != nil && !errors.Is(err, io.EOF) && readCtx.Err() == nil {
			log.Debug("syslog connection ended", "error", err)
		}
	}()
	// Once the server stops, what was read waits at most Drain for its
	// commit.
	drain := make(chan struct{})
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(s.Drain, func() { close(drain) }) })
	defer stopDrain()
	s.commitLoop(ctx, drain, items, func(n int64) { conn.Release(n); s.pending.Release(n) }, log)
}

// read frames, parses and attributes messages until the stream ends,
// holding each in the pending budgets until it is committed.
func (s *Server) read(ctx context.Context, c net.Conn, at attribution, conn *semaphore.Weighted, items chan<- item) error {
	f := NewFramer(c, s.cfg.MaxMessageBytes)
	p := NewParser()
	pace := pacer{rate: s.cfg.ConnEventsPerSecond}
	for {
		if err := c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout)); err != nil {
			return err
		}
		// After the deadline is set: a stop from now on cuts the read.
		if err := ctx.Err(); err != nil {
			return err
		}
		fr, err := f.Next()
		if err != nil {
			if errors.Is(err, ErrFraming) {
				s.in.Metrics.Rejected.WithLabelValues(Protocol, telemetry.ReasonBadRequest).Inc()
			}
			return err
		}
		s.in.Metrics.Bytes.WithLabelValues(Protocol).Add(float64(fr.Len))
		it, ok := s.attribute(p, fr, at)
		if !ok {
			continue
		}
		if err := conn.Acquire(ctx, it.n); err != nil {
			return err
		}
		if err := s.pending.Acquire(ctx, it.n); err != nil {
			conn.Release(it.n)
			return err
		}
		if err := pace.wait(ctx); err != nil {
			conn.Release(it.n)
			s.pending.Release(it.n)
			return err
		}
		select {
		case items <- it:
		case <-ctx.Done():
			conn.Release(it.n)
			s.pending.Release(it.n)
			return ctx.Err()
		}
	}
}

// attribute parses a frame and finds whose it is; false: refused (counted).
func (s *Server) attribute(p *Parser, fr Frame, at attribution) (item, bool) {
	var extra []events.Attr
	if fr.Truncated {
		extra = append(extra, events.Attr{Key: AttrTruncated, Value: strconv.Itoa(fr.Len)})
	}
	pr := p.Parse(fr.Msg, s.in.Now(), s.in.Limits.Event, extra...)
	var id tokens.Identity
	switch {
	case at.fixed != nil:
		id = *at.fixed
	case at.tokens && pr.Token != "":
		found, ok := s.in.Tokens.Lookup(pr.Token)
		if !ok || !found.Accepts(Protocol) {
			s.in.Metrics.Rejected.WithLabelValues(Protocol, telemetry.ReasonUnauthorized).Inc()
			return item{}, false
		}
		id = found
	default:
		s.in.Metrics.Rejected.WithLabelValues(Protocol, telemetry.ReasonUnauthorized).Inc()
		return item{}, false
	}
	ev := pr.Event
	ev.Tenant, ev.Feed = id.Tenant, id.Feed
	return item{ev: ev, id: id, n: int64(max(len(ev.Raw), 1))}, true
}

// commitLoop commits what the reader hands over, a batch at a time: the
// reader waits (and the connection is not read) while the pending budget
// is full, so a sender is slowed to what ClickHouse commits. Events whose
// admission says retry later (rate, quota, disk, queue) are retried, not
// dropped; release returns their bytes once they are committed (or
// refused for good).
func (s *Server) commitLoop(ctx context.Context, drain <-chan struct{}, items <-chan item, release func(int64), log interface {
	Warn(string, ...any)
}) {
	for {
		first, ok := <-items
		if !ok {
			return
		}
		batch := []item{first}
	fill:
		for len(batch) < s.cfg.BatchEvents {
			select {
			case it, ok := <-items:
				if !ok {
					break fill
				}
				batch = append(batch, it)
			default:
				break fill
			}
		}
		var held int64
		for _, it := range batch {
			held += it.n
		}
		for _, group := range byIdentity(batch) {
			s.commit(ctx, drain, group.id, group.evs, log)
		}
		release(held)
	}
}

type identityGroup struct {
	id  tokens.Identity
	evs []events.Event
}

// byIdentity splits a batch by identity, in order of first appearance.
func byIdentity(batch []item) []identityGroup {
	var out []identityGroup
	for _, it := range batch {
		i := 0
		for i < len(out) && out[i].id != it.id {
			i++
		}
		if i == len(out) {
			out = append(out, identityGroup{id: it.id})
		}
		out[i].evs = append(out[i].evs, it.ev)
	}
	return out
}

// commit admits and writes evs, waiting for the commit; an admission or
// write that says "later" is retried until the server stops (then Drain
// bounds the wait), a batch over the day limit is split.
func (s *Server) commit(ctx context.Context, drain <-chan struct{}, id tokens.Identity, evs []events.Event, log interface {
	Warn(string, ...any)
}) {
	in := s.in
	for {
		adm := in.Admit(id, evs)
		var err error
		if adm.Outcome == intake.OK {
			done := make(chan error, 1)
			if adm, err = in.Enqueue(adm, evs, func(err error) { done <- err }); err == nil {
				select {
				case err = <-done:
				case <-drain:
					log.Warn("syslog events not committed before the shutdown's end", "events", len(evs))
					return
				}
				if err == nil {
					return
				}
				adm = s.settle(adm, err)
			}
		}
		wait := adm.RetryAfter
		switch adm.Outcome {
		case intake.OK:
			return
		case intake.Invalid:
			if len(evs) > 1 {
				h := len(evs) / 2
				s.commit(ctx, drain, id, evs[:h], log)
				s.commit(ctx, drain, id, evs[h:], log)
				return
			}
			log.Warn("syslog event refused", "error", adm.Msg)
			return
		case intake.Refused:
			log.Warn("syslog events refused by ClickHouse", "events", len(evs), "error", adm.Msg)
			return
		case intake.Busy:
			wait = intake.RetryAfterBusy
		}
		if ctx.Err() != nil {
			log.Warn("syslog events not committed: ingest is stopping", "events", len(evs), "reason", adm.Msg)
			return
		}
		select {
		case <-time.After(max(wait, 100*time.Millisecond)):
		case <-ctx.Done():
		}
	}
}

// settle classifies a failed commit (Enqueue's done) as Write does.
func (s *Server) settle(adm intake.Admission, err error) intake.Admission {
	var refused *writer.RefusedError
	if errors.As(err, &refused) {
		adm.Outcome, adm.Msg = intake.Refused, refused.Error()
		return adm
	}
	adm.Outcome, adm.Msg = intake.Busy, err.Error()
	return adm
}

// ServeUDP serves pc until ctx ends: one message per datagram (RFC 5426),
// from Sources only. Nothing can be slowed over UDP: what the queue
// cannot take is dropped and counted.
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 65536)
	p := NewParser()
	var batch []item
	flush := func() {
		for _, g := range byIdentity(batch) {
			adm := s.in.Admit(g.id, g.evs)
			if adm.Outcome != intake.OK {
				continue // counted by Admit
			}
			n := len(g.evs)
			if _, err := s.in.Enqueue(adm, g.evs, func(err error) {
				if err != nil {
					s.in.Metrics.Rejected.WithLabelValues(Protocol, telemetry.ReasonWriteFailed).Add(float64(n))
				}
			}); err != nil {
				s.in.Metrics.Rejected.WithLabelValues(Protocol, telemetry.ReasonOverloaded).Add(float64(n))
			}
		}
		batch = batch[:0]
	}
	last := time.Now()
	for {
		_ = pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				flush()
				last = time.Now()
				continue
			}
			flush()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("cannot read syslog datagrams: %w", err)
		}
		id, ok := s.source(addr, s.cfg.UDPSources)
		if !ok {
			s.refused(TransportUDP, "source")
			continue
		}
		s.in.Metrics.Bytes.WithLabelValues(Protocol).Add(float64(n))
		msg := []byte(strings.TrimRight(string(buf[:n]), "\r\n\x00"))
		fr := Frame{Msg: msg, Len: len(msg)}
		if len(msg) > s.cfg.MaxMessageBytes {
			fr.Msg, fr.Truncated = msg[:s.cfg.MaxMessageBytes], true
		}
		it, _ := s.attribute(p, fr, attribution{fixed: &id})
		batch = append(batch, it)
		if len(batch) >= s.cfg.BatchEvents || time.Since(last) > 200*time.Millisecond {
			flush()
			last = time.Now()
		}
	}
}

// CertIdentity is the feed a client certificate was issued for: its one
// URI SAN urn:nano:feed:<tenant>:<feed>.
func CertIdentity(cert *x509.Certificate, rate float64) (tokens.Identity, error) {
	var found []string
	for _, u := range cert.URIs {
		if s := u.String(); strings.HasPrefix(s, FeedURIPrefix) {
			found = append(found, strings.TrimPrefix(s, FeedURIPrefix))
		}
	}
	if len(found) != 1 {
		return tokens.Identity{}, fmt.Errorf("the certificate has %d URI SANs %s<tenant>:<feed>, not one", len(found), FeedURIPrefix)
	}
	tenant, feed, _ := strings.Cut(found[0], ":")
	id, err := FeedIdentity(tenant, feed, rate)
	if err != nil {
		return id, fmt.Errorf("%s%s: %w", FeedURIPrefix, found[0], err)
	}
	return id, nil
}

// FeedIdentity is the identity of a syslog feed named by the operator (a
// certificate, a source network).
func FeedIdentity(tenant, feed string, rate float64) (tokens.Identity, error) {
	if !validName(tenant) || !validName(feed) {
		return tokens.Identity{}, errors.New("the tenant and the feed must be 1 to 200 printable characters each, without colon or space")
	}
	return tokens.Identity{Tenant: tenant, Feed: feed, Kind: Protocol, RatePerSecond: rate}, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == ':' {
			return false
		}
	}
	return true
}

// pacer is a connection's token bucket (one second's burst).
type pacer struct {
	rate   float64
	tokens float64
	last   time.Time
}

func (p *pacer) wait(ctx context.Context) error {
	if p.rate <= 0 {
		return nil
	}
	now := time.Now()
	if p.last.IsZero() {
		p.tokens = p.rate
	} else {
		p.tokens = min(p.rate, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
	if p.tokens < 1 {
		d := time.Duration((1 - p.tokens) / p.rate * float64(time.Second))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		p.tokens, p.last = 1, time.Now()
	}
	p.tokens--
	return nil
}
