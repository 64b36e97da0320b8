package chclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/nanosiem/nano/tests/harness"
)

// Against a real ClickHouse serving the native protocol over TLS (as
// ClickHouse Cloud's 9440): the configured CA verifies it and queries run;
// the system's roots do not know the test CA and refuse; plain TCP to the
// TLS port fails; a bad CA file is an error.
func TestTLSAgainstAClickHouseTLSListener(t *testing.T) {
	harness.Servers(t)
	files, err := harness.WriteTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := harness.StartClickHouseTLS(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	query := func(tc *tls.Config) error {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr: []string{fmt.Sprintf("127.0.0.1:%d", ch.SecurePort)}, Auth: clickhouse.Auth{Username: "default"},
			TLS: tc, DialTimeout: 5 * time.Second,
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var one uint8
		return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	}
	withCA, err := TLS(true, files.CA)
	if err != nil {
		t.Fatal(err)
	}
	if err := query(withCA); err != nil {
		t.Errorf("TLS with the server's CA: %v", err)
	}
	system, err := TLS(true, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := query(system); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("the system's roots accepted a test CA's certificate: %v", err)
	}
	if err := query(nil); err == nil {
		t.Error("plain TCP to the TLS port worked")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := TLS(true, bad); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without certificates: %v", err)
	}
	if _, err := TLS(false, files.CA); err == nil {
		t.Error("a CA file with TLS off was accepted")
	}
}
