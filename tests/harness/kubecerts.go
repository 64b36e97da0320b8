package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// kubePKI is the rig's certificates, as files in dir: a CA, the API
// server's serving certificate (127.0.0.1, localhost and the in-cluster
// names), the admin client (group system:masters) that the controllers,
// the harness and Pulumi's provider use, and the service-account key pair.
type kubePKI struct {
	CA, ServerCert, ServerKey, AdminCert, AdminKey, SAKey, SAPub string
}

func writeKubePKI(dir string) (kubePKI, error) {
	p := kubePKI{}
	ca, err := newTestCA("nano rig kubernetes CA", 48*time.Hour)
	if err != nil {
		return p, err
	}
	if p.CA, err = writePEM(dir, "ca.crt", "CERTIFICATE", ca.der); err != nil {
		return p, err
	}
	leaf := func(name string, t *x509.Certificate) (cert, key string, err error) {
		der, kd, err := ca.sign(t)
		if err != nil {
			return "", "", err
		}
		if cert, err = writePEM(dir, name+".crt", "CERTIFICATE", der); err != nil {
			return "", "", err
		}
		key, err = writePEM(dir, name+".key", "PRIVATE KEY", kd)
		return cert, key, err
	}
	if p.ServerCert, p.ServerKey, err = leaf("apiserver", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return p, err
	}
	if p.AdminCert, p.AdminKey, err = leaf("admin", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "nano-rig-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return p, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	skd, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return p, err
	}
	if p.SAKey, err = writePEM(dir, "sa.key", "PRIVATE KEY", skd); err != nil {
		return p, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return p, err
	}
	p.SAPub, err = writePEM(dir, "sa.pub", "PUBLIC KEY", pub)
	return p, err
}

func writePEM(dir, name, typ string, der []byte) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("cannot write %s: %w", path, err)
	}
	return path, nil
}

// kubeconfig is an admin kubeconfig for server with the PKI's files
// embedded, as a user's kubeconfig would carry them.
func (p kubePKI) kubeconfig(server string) (string, error) {
	data := func(path string) (string, error) {
		b, err := os.ReadFile(path)
		return base64.StdEncoding.EncodeToString(b), err
	}
	ca, err := data(p.CA)
	if err != nil {
		return "", err
	}
	cert, err := data(p.AdminCert)
	if err != nil {
		return "", err
	}
	key, err := data(p.AdminKey)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: rig
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: rig
  context:
    cluster: rig
    user: admin
current-context: rig
`, server, ca, cert, key), nil
}
