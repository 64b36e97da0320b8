package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nanosiem/nano/services/contract"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate, as files, plus a client certificate from another CA.
type pki struct {
	dir                           string
	caPool                        *x509.CertPool
	client, stranger              tls.Certificate
	serverCert, serverKey, caFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), caPool: x509.NewCertPool()}
	ca, caKey := selfSigned(t, "nano test CA")
	p.caPool.AddCert(ca)
	p.caFile = writePEM(t, p.dir, "ca.crt", "CERTIFICATE", ca.Raw)
	srv, srvKey := signed(t, ca, caKey, "ingest", x509.ExtKeyUsageServerAuth)
	p.serverCert = writePEM(t, p.dir, "tls.crt", "CERTIFICATE", srv.Raw)
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	p.serverKey = writePEM(t, p.dir, "tls.key", "EC PRIVATE KEY", keyDER)
	cl, clKey := signed(t, ca, caKey, "aggregator", x509.ExtKeyUsageClientAuth)
	p.client = tls.Certificate{Certificate: [][]byte{cl.Raw}, PrivateKey: clKey}
	other, otherKey := selfSigned(t, "other CA")
	st, stKey := signed(t, other, otherKey, "stranger", x509.ExtKeyUsageClientAuth)
	p.stranger = tls.Certificate{Certificate: [][]byte{st.Raw}, PrivateKey: stKey}
	return p
}

func selfSigned(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func signed(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Vector wire encoding, as a Vector aggregator's vector sink sends it.
func value(v any) []byte {
	var b []byte
	switch x := v.(type) {
	case string:
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, []byte(x))
	case time.Time:
		var ts []byte
		ts = protowire.AppendTag(ts, 1, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(x.Unix()))
		ts = protowire.AppendTag(ts, 2, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(x.Nanosecond()))
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, ts)
	case int64:
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(x))
	case float64:
		b = protowire.AppendTag(b, 5, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(x))
	case bool:
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(x))
	case map[string]any:
		var m []byte
		for k, val := range x {
			m = protowire.AppendTag(m, 1, protowire.BytesType)
			m = protowire.AppendBytes(m, entry(k, val))
		}
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	case []any:
		var a []byte
		for _, item := range x {
			a = protowire.AppendTag(a, 1, protowire.BytesType)
			a = protowire.AppendBytes(a, value(item))
		}
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	return b
}

func entry(k string, v any) []byte {
	var e []byte
	e = protowire.AppendTag(e, 1, protowire.BytesType)
	e = protowire.AppendBytes(e, []byte(k))
	e = protowire.AppendTag(e, 2, protowire.BytesType)
	return protowire.AppendBytes(e, value(v))
}

func pushRequest(logs ...map[string]any) []byte {
	var req []byte
	for _, l := range logs {
		var log []byte
		log = protowire.AppendTag(log, 2, protowire.BytesType) // Log.value
		log = protowire.AppendBytes(log, value(l))
		var wrapper []byte
		wrapper = protowire.AppendTag(wrapper, 1, protowire.BytesType) // EventWrapper.log
		wrapper = protowire.AppendBytes(wrapper, log)
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, wrapper)
	}
	// A metric event (EventWrapper.metric) is skipped.
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{}))
	return req
}

type bytesCodec struct{}

func (bytesCodec) Name() string { return "proto" }
func (bytesCodec) Marshal(v any) ([]byte, error) {
	return *(v.(*[]byte)), nil
}
func (bytesCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}

// The Vector-native port: PushEvents over mutual TLS commits the logs
// before it answers; HealthCheck serves; clients without a certificate of
// the configured CA are refused.
func TestVectorNativePort(t *testing.T) {
	p := newPKI(t)
	env := map[string]string{
		contract.ClickHouseAddr: ch.Addr, contract.ClickHouseDatabase: "ing_native", contract.IngestToken: ingestToken,
		contract.NativeTLSCert: p.serverCert, contract.NativeTLSKey: p.serverKey, contract.NativeClientCA: p.caFile,
	}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
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
	dial := func(cert tls.Certificate) *grpc.ClientConn {
		creds := credentials.NewTLS(&tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
		conn, err := grpc.NewClient(ls.native.Addr().String(), grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(bytesCodec{})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	conn := dial(p.client)
	call := func(conn *grpc.ClientConn, method string, req []byte) ([]byte, error) {
		cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer ccancel()
		var out []byte
		err := conn.Invoke(cctx, "/vector.Vector/"+method, &req, &out)
		return out, err
	}
	if out, err := call(conn, "HealthCheck", nil); err != nil || len(out) != 0 {
		t.Fatalf("HealthCheck: %x %v (want SERVING, the empty message)", out, err)
	}
	at := time.Date(2026, 11, 23, 12, 0, 0, 987654321, time.UTC)
	req := pushRequest(
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
	if _, err := call(dial(p.stranger), "HealthCheck", nil); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	// No client certificate at all.
	raw, err := tls.Dial("tcp", ls.native.Addr().String(), &tls.Config{RootCAs: p.caPool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err == nil {
		_ = raw.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = raw.Read(make([]byte, 1))
		raw.Close()
	}
	if err == nil {
		t.Error("a client without a certificate was served")
	}
}
