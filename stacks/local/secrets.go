package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nanosiem/nano/components/composefiles"
	"github.com/nanosiem/nano/services/contract"
)

// secretsFile keeps the local project's secrets between ups (the databases
// keep the passwords they were created with).
const secretsFile = "secrets.json"

// loadOrMakeSecrets reads dir's secrets, or generates them as a Hobby
// deployment's are (the same lengths and forms as the random and tls
// resources of components.ComposeHost) and writes them (0600).
func loadOrMakeSecrets(dir string) (composefiles.Secrets, bool, error) {
	path := filepath.Join(dir, secretsFile)
	var s composefiles.Secrets
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, false, fmt.Errorf("cannot read %s: %w (local down removes it with the data)", path, err)
		}
		return s, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return s, false, err
	}
	s, err := newSecrets()
	if err != nil {
		return s, false, err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return s, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, false, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return s, false, fmt.Errorf("cannot write the secrets: %w", err)
	}
	return s, true, nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func password(n int) string {
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		if err != nil {
			panic(err)
		}
		b[i] = alnum[v.Int64()]
	}
	return string(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func uuid() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newSecrets() (composefiles.Secrets, error) {
	ca, cert, key, err := nativeTLS()
	if err != nil {
		return composefiles.Secrets{}, err
	}
	return composefiles.Secrets{
		PostgresPassword: password(32), ClickHousePassword: password(32),
		APIPostgresPassword: password(32), IngestPostgresPassword: password(32), SearchPostgresPassword: password(32),
		MonitorPostgresPassword: password(32), IngestClickHousePassword: password(32), SearchClickHousePassword: password(32),
		IngestToken: password(48), HECToken: uuid(),
		NativeCACert: ca, NativeServerCert: cert, NativeServerKey: key,
		APICredentialsKey: base64.StdEncoding.EncodeToString(randomBytes(32)),
		AdminToken:        contract.APITokenPrefix + base64.RawURLEncoding.EncodeToString(randomBytes(32)),
	}, nil
}

// nativeTLS is the Vector-native port's CA and server certificate (for
// localhost and 127.0.0.1), ECDSA P-256 as the deployments' are.
func nativeTLS() (caPEM, certPEM, keyPEM string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: new(big.Int).SetBytes(randomBytes(16)),
		Subject:   pkix.Name{CommonName: "local nano native CA", Organization: []string{"nano"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", "", err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	tmpl := &x509.Certificate{SerialNumber: new(big.Int).SetBytes(randomBytes(16)),
		Subject:   pkix.Name{CommonName: "local ingest", Organization: []string{"nano"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", "", err
	}
	enc := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	return enc("CERTIFICATE", caDER), enc("CERTIFICATE", der), enc("PRIVATE KEY", keyDER), nil
}
