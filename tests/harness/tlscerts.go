package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// testCA is a P-256 CA the harness signs its test certificates with; they
// are valid from an hour ago for validity.
type testCA struct {
	cert       *x509.Certificate
	key        *ecdsa.PrivateKey
	der        []byte
	start, end time.Time
	serial     int64
}

func newTestCA(commonName string, validity time.Duration) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &testCA{key: key, start: now.Add(-time.Hour), end: now.Add(validity), serial: 1}
	ca.cert = &x509.Certificate{SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: commonName},
		NotBefore: ca.start, NotAfter: ca.end, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	if ca.der, err = x509.CreateCertificate(rand.Reader, ca.cert, ca.cert, &key.PublicKey, key); err != nil {
		return nil, err
	}
	return ca, nil
}

// sign issues a certificate for a new P-256 key from t's subject, names
// and extended key usage (the CA sets serial, validity and key usage), and
// returns it and the key in PKCS#8, both DER.
func (ca *testCA) sign(t *x509.Certificate) (certDER, keyDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	ca.serial++
	t.SerialNumber, t.NotBefore, t.NotAfter = big.NewInt(ca.serial), ca.start, ca.end
	t.KeyUsage = x509.KeyUsageDigitalSignature
	if certDER, err = x509.CreateCertificate(rand.Reader, t, ca.cert, &key.PublicKey, ca.key); err != nil {
		return nil, nil, err
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	return certDER, keyDER, err
}

// TLSFiles are a test CA and a server certificate it signed for 127.0.0.1
// and localhost, as PEM files in a directory.
type TLSFiles struct{ CA, Cert, Key string }

// WriteTLSFiles makes a CA and a server certificate into dir.
func WriteTLSFiles(dir string) (TLSFiles, error) {
	f := TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem")}
	ca, err := newTestCA("nano test CA", 24*time.Hour)
	if err != nil {
		return f, err
	}
	leafDER, keyDER, err := ca.sign(&x509.Certificate{Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return f, err
	}
	for path, block := range map[string]*pem.Block{
		f.CA: {Type: "CERTIFICATE", Bytes: ca.der}, f.Cert: {Type: "CERTIFICATE", Bytes: leafDER}, f.Key: {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o644); err != nil {
			return f, fmt.Errorf("cannot write %s: %w", path, err)
		}
	}
	return f, nil
}

// MutualTLS is a test CA with a server certificate and a client
// certificate it signed, and a client certificate of another CA: what a
// port with client certificates (ingest's Vector-native port) is tested
// with. The CA and the server's files are PEM.
type MutualTLS struct {
	CACert, ServerCert, ServerKey string
	CAPool                        *x509.CertPool
	Client, Stranger              tls.Certificate
	// Feed is a client certificate of the CA issued for a feed (URI SAN
	// urn:nano:feed:acme:syslog-fw, ingest's syslog port); ForgedFeed names
	// the same feed, signed by the other CA. Their PEM forms are for
	// real clients' files.
	Feed, ForgedFeed PEMCert
}

// PEMCert is a certificate and its key, parsed and as PEM.
type PEMCert struct {
	TLS       tls.Certificate
	Cert, Key string
}

// FeedURI is the feed MutualTLS's Feed certificate names.
const FeedURI = "urn:nano:feed:acme:syslog-fw"

func feedCert(ca *testCA, uri string) (PEMCert, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return PEMCert{}, err
	}
	certDER, keyDER, err := ca.sign(&x509.Certificate{Subject: pkix.Name{CommonName: "syslog client"}, URIs: []*url.URL{u},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return PEMCert{}, err
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return PEMCert{}, err
	}
	return PEMCert{TLS: tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: key},
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})),
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))}, nil
}

// NewMutualTLS makes one whose server certificate names hosts (IP
// addresses or DNS names).
func NewMutualTLS(hosts ...string) (MutualTLS, error) {
	var m MutualTLS
	ca, err := newTestCA("nano test CA", 24*time.Hour)
	if err != nil {
		return m, err
	}
	server := &x509.Certificate{Subject: pkix.Name{CommonName: "ingest"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, h)
		}
	}
	certDER, keyDER, err := ca.sign(server)
	if err != nil {
		return m, err
	}
	m.CACert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der}))
	m.ServerCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))
	m.ServerKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	m.CAPool = x509.NewCertPool()
	m.CAPool.AppendCertsFromPEM([]byte(m.CACert))
	if m.Client, err = clientCert(ca, "aggregator"); err != nil {
		return m, err
	}
	other, err := newTestCA("another CA", 24*time.Hour)
	if err != nil {
		return m, err
	}
	if m.Stranger, err = clientCert(other, "stranger"); err != nil {
		return m, err
	}
	if m.Feed, err = feedCert(ca, FeedURI); err != nil {
		return m, err
	}
	m.ForgedFeed, err = feedCert(other, FeedURI)
	return m, err
}

func clientCert(ca *testCA, name string) (tls.Certificate, error) {
	certDER, keyDER, err := ca.sign(&x509.Certificate{Subject: pkix.Name{CommonName: name}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: key}, nil
}
