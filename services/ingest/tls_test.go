package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// With NANO_INGEST_TLS_CERT/KEY the HTTP and HEC ports speak TLS (a cloud
// load balancer passes TCP through): a shipper trusting the deployment's
// CA posts over HTTPS; plain HTTP is refused; the metrics port stays plain
// for Prometheus inside the cluster.
func TestShipperPortsOverTLS(t *testing.T) {
	harness.Servers(t)
	files, err := harness.WriteTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := startWith(t, "ing_tls", map[string]string{contract.IngestTLSCert: files.Cert, contract.IngestTLSKey: files.Key})
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	https := strings.Replace(s.ingest, "http://", "https://", 1)
	req, _ := http.NewRequest(http.MethodPost, https+"/v1/events", bytes.NewReader([]byte(`{"message":"over tls"}`)))
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || s.count(t, "message = 'over tls'") != 1 {
		t.Errorf("HTTPS post: %d", resp.StatusCode)
	}
	hecHTTPS := strings.Replace(s.hec, "http://", "https://", 1)
	if resp, err := client.Get(hecHTTPS + "/services/collector/health"); err != nil || resp.StatusCode != 200 {
		t.Errorf("HEC health over TLS: %v %v", resp, err)
	}
	// Plain HTTP on a TLS port: Go's server answers 400, nothing is taken.
	req, _ = http.NewRequest(http.MethodPost, s.ingest+"/v1/events", bytes.NewReader([]byte(`{"message":"in clear"}`)))
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS port: %d", resp.StatusCode)
		}
	}
	if s.count(t, "message = 'in clear'") != 0 {
		t.Error("an event sent in clear was stored")
	}
	// OTLP/gRPC (4317) speaks the same TLS; a plaintext client gets nothing in.
	tlsConn, err := grpc.NewClient(s.otlp, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer tlsConn.Close()
	if _, err := plogotlp.NewGRPCClient(tlsConn).Export(withToken(t, ingestToken), plogotlp.NewExportRequestFromLogs(otlpLogs("otlp over tls", 1, time.Now()))); err != nil {
		t.Errorf("OTLP/gRPC over TLS: %v", err)
	}
	if _, err := otlpClient(t, s).Export(withToken(t, ingestToken), plogotlp.NewExportRequestFromLogs(otlpLogs("otlp in clear", 1, time.Now()))); err == nil {
		t.Error("OTLP/gRPC in clear to the TLS port succeeded")
	}
	if s.count(t, "message = 'otlp over tls 0'") != 1 || s.count(t, "message LIKE 'otlp in clear%'") != 0 {
		t.Error("OTLP over TLS not stored, or in clear stored")
	}
	if resp, err := http.Get(s.metrics + contract.ReadyPath); err != nil || resp.StatusCode != 200 {
		t.Errorf("the metrics port over plain HTTP: %v %v", resp, err)
	}
	if _, err := loadConfig(func(k string) string {
		return map[string]string{contract.ClickHouseAddr: "ch:9000", contract.IngestToken: ingestToken, contract.IngestTLSCert: files.Cert}[k]
	}); err == nil || !strings.Contains(err.Error(), contract.IngestTLSCert+":") {
		t.Errorf("a certificate without its key: %v", err)
	}
}
