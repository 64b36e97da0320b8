package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// syslogAddrs are the test service's syslog listeners ("" when off).
type syslogAddrs struct{ tls, tcp, udp string }

// listenSyslog binds the syslog transports cfg serves on loopback.
func listenSyslog(t *testing.T, cfg config, ls *listeners) syslogAddrs {
	t.Helper()
	var a syslogAddrs
	var err error
	if cfg.SyslogTLS != nil {
		if ls.syslogTLS, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		a.tls = ls.syslogTLS.Addr().String()
	}
	if len(cfg.SyslogTCPSources) > 0 {
		if ls.syslogTCP, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		a.tcp = ls.syslogTCP.Addr().String()
	}
	if len(cfg.SyslogUDPSources) > 0 {
		if ls.syslogUDP, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		a.udp = ls.syslogUDP.LocalAddr().String()
	}
	return a
}

// syslogTLSEnv writes p's server certificate and CA and returns the
// environment of a syslog TLS port with client certificates.
func syslogTLSEnv(t *testing.T, p harness.MutualTLS) map[string]string {
	t.Helper()
	dir := t.TempDir()
	file := func(name, pem string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(pem), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return map[string]string{contract.SyslogTLSCert: file("tls.crt", p.ServerCert), contract.SyslogTLSKey: file("tls.key", p.ServerKey),
		contract.SyslogClientCA: file("ca.crt", p.CACert)}
}

// waitCount waits until where counts want rows (or fails after 20 s).
func (s *service) waitCount(t *testing.T, where string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := s.count(t, where)
		if n == want {
			return
		}
		if n > want || time.Now().After(deadline) {
			t.Fatalf("%d rows where %s, want %d", n, where, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMetric waits until a metric sample reads want.
func (s *service) waitMetric(t *testing.T, sample, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.metric(t, sample)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want %q", sample, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rfc5424(tag string, i int, sd string) string {
	return fmt.Sprintf("<134>1 2026-12-05T10:00:%02d.5Z host-%s app-%s %d ID%d %s %s message %d", i%60, tag, tag, 1000+i, i, sd, tag, i)
}

// The syslog port over TLS with a feed's client certificate (octet
// counting) and with a syslog feed's token in each message (newline
// framing), plain TCP and UDP from the listed networks: every message is
// stored once, attributed to its feed, fields mapped; a malformed message
// is stored whole with a parse error. Refused and counted: a certificate
// of another CA, no credential, a wrong token, another kind's token.
func TestSyslogPort(t *testing.T) {
	harness.Servers(t)
	p, err := harness.NewMutualTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	meta, token := feedToken(t, "ingest_syslog_meta", "acme", "syslog")
	hecToken := addKindToken(t, meta, "acme", "hec")
	env := syslogTLSEnv(t, p)
	env[contract.PostgresURL] = meta
	env[contract.SyslogTCPSources] = "127.0.0.0/8=acme:plain-tcp"
	env[contract.SyslogUDPSources] = "127.0.0.1/32=beta:plain-udp"
	env[contract.IngestFlushInterval] = "100ms"
	s := startWith(t, "ingest_syslog", env)
	waitToken(t, s, token)

	dialTLS := func(cert *tls.Certificate) (*tls.Conn, error) {
		c := &tls.Config{RootCAs: p.CAPool, ServerName: "127.0.0.1"}
		if cert != nil {
			// Sent whatever CAs the server names (Go's client would
			// otherwise keep a certificate of another CA to itself).
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		conn, err := tls.Dial("tcp", s.syslog.tls, c)
		if err != nil {
			return nil, err
		}
		// TLS 1.3 reports a refused client certificate on the first read.
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		return conn, nil
	}
	send := func(c net.Conn, msgs ...string) {
		t.Helper()
		for _, m := range msgs {
			if _, err := c.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	const n = 50
	// A feed's certificate, octet counting, one malformed message.
	c, err := dialTLS(&p.Feed.TLS)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m := rfc5424("cert", i, "-")
		send(c, strconv.Itoa(len(m))+" "+m)
	}
	send(c, "11 not syslog!")
	c.Close()
	s.waitCount(t, "tenant = 'acme' AND feed = 'syslog-fw'", n+1)
	s.waitCount(t, "feed = 'syslog-fw' AND host = 'host-cert' AND service = 'app-cert' AND severity = 'info' AND message LIKE 'cert message %' AND attr_values[indexOf(attr_keys, 'syslog.facility')] = 'local0'", n)
	s.waitCount(t, "feed = 'syslog-fw' AND message = 'not syslog!' AND raw = 'not syslog!' AND has(attr_keys, 'syslog.parse_error')", 1)

	// A syslog feed's token in the structured data, newline framing; RFC
	// 3164 too. The token is not stored.
	c, err = dialTLS(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		send(c, rfc5424("token", i, `[nano@32473 token="`+token+`"]`)+"\n")
	}
	c.Close()
	s.waitCount(t, "tenant = 'acme' AND feed = 'syslog-feed' AND host = 'host-token'", n)
	s.waitCount(t, "position(raw, '"+token+"') > 0 OR has(attr_values, '"+token+"')", 0)

	// Refused, counted: no credential, a wrong token, a HEC feed's token.
	c, err = dialTLS(nil)
	if err != nil {
		t.Fatal(err)
	}
	send(c, rfc5424("none", 1, "-")+"\n", rfc5424("wrong", 1, `[nano@32473 token="not-a-token-of-any-feed-123"]`)+"\n",
		rfc5424("hec", 1, `[nano@32473 token="`+hecToken+`"]`)+"\n")
	c.Close()
	s.waitMetric(t, `nano_ingest_rejected_events_total{protocol="syslog",reason="unauthorized"}`, "3")
	// Another CA's certificate naming the same feed: the handshake fails.
	if c, err := dialTLS(&p.ForgedFeed.TLS); err == nil {
		send(c, rfc5424("forged", 1, "-")+"\n")
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("a certificate of another CA was accepted")
		}
		c.Close()
	}
	s.waitMetric(t, `nano_ingest_syslog_refused_total{reason="handshake",transport="tls"}`, "1")

	// Plain TCP from a listed network, RFC 3164.
	pc, err := net.Dial("tcp", s.syslog.tcp)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		send(pc, fmt.Sprintf("<38>Dec  5 10:00:%02d bastion sshd[%d]: plain message %d\n", i%60, 100+i, i))
	}
	pc.Close()
	s.waitCount(t, "tenant = 'acme' AND feed = 'plain-tcp' AND host = 'bastion' AND service = 'sshd' AND message LIKE 'plain message %'", n)

	// UDP, one message a datagram.
	u, err := net.Dial("udp", s.syslog.udp)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		send(u, rfc5424("udp", i, "-"))
		time.Sleep(time.Millisecond) // loopback drops a burst beyond its buffer
	}
	u.Close()
	s.waitCount(t, "tenant = 'beta' AND feed = 'plain-udp' AND host = 'host-udp'", n)

	// Nothing else was stored: no refused message slipped in.
	s.waitCount(t, "host IN ('host-none', 'host-wrong', 'host-hec', 'host-forged')", 0)
	s.waitCount(t, "1", 4*n+1)
}

// addKindToken issues a token of a new feed of kind for tenant in the
// metadata database at url.
func addKindToken(t *testing.T, url, tenant, kind string) string {
	harness.Servers(t)
	t.Helper()
	token := addFeedToken(t, url, tenant) // an http feed's
	if kind == "http" {
		return token
	}
	db, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(t.Context(), `UPDATE feeds SET kind = $1, name = $1 || '-other' WHERE name = 'http-feed' AND tenant = $2`, kind, tenant); err != nil {
		t.Fatal(err)
	}
	return token
}

// The plain transports are off unless sources are listed, and their
// configuration is checked, naming the key.
func TestSyslogConfigErrorsNameTheKey(t *testing.T) {
	base := map[string]string{contract.ClickHouseAddr: "127.0.0.1:9000", contract.IngestToken: ingestToken}
	cfg, err := loadConfig(func(k string) string { return base[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SyslogTLS != nil || cfg.SyslogTCPSources != nil || cfg.SyslogUDPSources != nil {
		t.Fatal("a syslog transport is on by default")
	}
	for key, v := range map[string]string{
		contract.SyslogTCPSources:       "0.0.0.0/0=acme:fw",
		contract.SyslogUDPSources:       "10.0.0.0/8",
		contract.SyslogTLSCert:          "/nonexistent.crt",
		contract.SyslogClientCA:         "/ca.crt",
		contract.SyslogMaxMessageBytes:  "12",
		contract.SyslogIdleTimeout:      "forever",
		contract.SyslogConnEventsPerSec: "-1",
	} {
		env := map[string]string{key: v}
		for k, v := range base {
			env[k] = v
		}
		_, err := loadConfig(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: %v, want an error naming the key", key, v, err)
		}
	}
	if _, err := loadConfig(func(k string) string {
		return map[string]string{contract.ClickHouseAddr: "127.0.0.1:9000", contract.IngestToken: ingestToken, contract.SyslogTCPSources: "10.0.0.0/8=acme:fw, 192.0.2.7/32=beta:switch"}[k]
	}); err != nil {
		t.Errorf("valid sources: %v", err)
	}
}

// Backpressure instead of loss: a tenant over its events-per-second quota
// is not refused over TCP (there is no answer to refuse with) but read
// slower: every message sent is stored, once. Connections beyond the limit
// are closed and counted.
func TestSyslogBackpressure(t *testing.T) {
	harness.Servers(t)
	env := map[string]string{
		contract.SyslogTCPSources: "127.0.0.0/8=slow:fw", contract.IngestFlushInterval: "50ms",
		contract.IngestTenantEPS: "100", contract.IngestTenantBurstSeconds: "1", contract.SyslogMaxConnections: "2",
	}
	s := startWith(t, "ingest_syslog_backpressure", env)
	const n = 400 // four seconds of the quota
	c, err := net.Dial("tcp", s.syslog.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	// Four writes of a second's quota: the first passes, the others wait
	// for the quota (a batch larger than the burst passes on a full
	// bucket, leaving it in debt).
	for chunk := 0; chunk < 4; chunk++ {
		var b strings.Builder
		for i := chunk * n / 4; i < (chunk+1)*n/4; i++ {
			m := rfc5424("bp", i, "-")
			fmt.Fprintf(&b, "%d %s", len(m), m)
		}
		if _, err := c.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Two more connections: the second is over the limit of 2.
	c2, err := net.Dial("tcp", s.syslog.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c3, err := net.Dial("tcp", s.syslog.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	s.waitMetric(t, `nano_ingest_syslog_refused_total{reason="connection_limit",transport="tcp"}`, "1")
	deadline := time.Now().Add(30 * time.Second)
	for s.count(t, "tenant = 'slow' AND host = 'host-bp'") < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	s.waitCount(t, "tenant = 'slow' AND host = 'host-bp'", n)
	var distinct uint64
	if err := s.conn.QueryRow(t.Context(), "SELECT uniqExact(message) FROM "+s.table+" WHERE host = 'host-bp'").Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	if distinct != n {
		t.Errorf("%d distinct messages, want %d", distinct, n)
	}
	// The quota was held to (its admission refused, the batch waited),
	// and nothing was dropped.
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("%d events stored in %s, faster than the quota of 100/s allows", n, took)
	}
	if v := s.metric(t, contract.IngestQuotaRefusalsMetric+`{quota="events_per_second",tenant="slow"}`); v == "" || v == "0" {
		t.Errorf("the quota never refused a batch (%q): nothing was held back", v)
	}
}
