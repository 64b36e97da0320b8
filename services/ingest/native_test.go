package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// The Vector-native port: PushEvents over mutual TLS commits the logs
// before it answers; HealthCheck serves; clients without a certificate of
// the configured CA are refused.
func TestVectorNativePort(t *testing.T) {
	harness.Servers(t)
	p, err := harness.NewMutualTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := func(name, pem string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(pem), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	env := map[string]string{
		contract.ClickHouseAddr: ch.Addr, contract.ClickHouseDatabase: "ing_native", contract.IngestToken: ingestToken,
		contract.NativeTLSCert: file("tls.crt", p.ServerCert), contract.NativeTLSKey: file("tls.key", p.ServerKey), contract.NativeClientCA: file("ca.crt", p.CACert),
	}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	migrateEvents(t, cfg)
	var ls listeners
	for _, l := range []*net.Listener{&ls.ingest, &ls.hec, &ls.metrics, &ls.native} {
		if *l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &ls) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	dial := func(cert tls.Certificate) *harness.VectorClient {
		c, err := harness.DialVector(ls.native.Addr().String(), &tls.Config{RootCAs: p.CAPool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	conn := dial(p.Client)
	call := func(c *harness.VectorClient, method string, req []byte) ([]byte, error) {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		return c.Call(cctx, method, req)
	}
	if out, err := call(conn, "HealthCheck", nil); err != nil || len(out) != 0 {
		t.Fatalf("HealthCheck: %x %v (want SERVING, the empty message)", out, err)
	}
	at := time.Date(2026, 11, 23, 12, 0, 0, 987654321, time.UTC)
	req := harness.VectorPushRequest(
		map[string]any{"message": "sshd: Failed password for root", "timestamp": at, "host": "bastion", "source_type": "journald",
			"severity": "warning", "pid": int64(4242), "ratio": 0.5, "tags": []any{"auth", "ssh"}, "geo": map[string]any{"country": "DE"}},
		map[string]any{"message": "second", "timestamp": at},
	)
	if _, err := call(conn, "PushEvents", req); err != nil {
		t.Fatalf("PushEvents: %v", err)
	}
	// Answered means committed.
	s := &service{table: "ing_native.events"}
	if s.conn, err = ch.Open(); err != nil {
		t.Fatal(err)
	}
	defer s.conn.Close()
	if n := s.count(t, "feed = 'vector' AND host = 'bastion' AND severity = 'warn' AND ts_nanos = 987654321"+
		" AND attr_values[indexOf(attr_keys, 'pid')] = '4242' AND attr_values[indexOf(attr_keys, 'geo.country')] = 'DE'"+
		" AND attr_values[indexOf(attr_keys, 'tags')] = '[\"auth\",\"ssh\"]'"); n != 1 {
		t.Errorf("the Vector log was not stored as sent (%d rows match)", n)
	}
	if n := s.count(t, "feed = 'vector'"); n != 2 {
		t.Errorf("%d vector events stored, want 2 (the metric skipped)", n)
	}
	if _, err := call(conn, "PushEvents", []byte{0x0a, 0xff}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed request: %v, want InvalidArgument", err)
	}
	if _, err := call(dial(p.Stranger), "HealthCheck", nil); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	// No client certificate at all.
	raw, err := tls.Dial("tcp", ls.native.Addr().String(), &tls.Config{RootCAs: p.CAPool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err == nil {
		_ = raw.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = raw.Read(make([]byte, 1))
		raw.Close()
	}
	if err == nil {
		t.Error("a client without a certificate was served")
	}
}
