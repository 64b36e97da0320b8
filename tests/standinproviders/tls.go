package standinproviders

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// TLS stands in for the tls provider (pulumi-tls v5): the PrivateKey,
// SelfSignedCert, CertRequest and LocallySignedCert nano registers.
func TLS(version string) *Provider {
	return &Provider{Name: "tls", Version: version, Resources: map[string]create{
		"tls:index/privateKey:PrivateKey":               privateKey,
		"tls:index/selfSignedCert:SelfSignedCert":       selfSignedCert,
		"tls:index/certRequest:CertRequest":             certRequest,
		"tls:index/locallySignedCert:LocallySignedCert": locallySignedCert,
	}}
}

// privateKey makes an RSA, ECDSA or ED25519 key, encoded as the real
// provider encodes it (PKCS#1, SEC 1 and PKCS#8 PEM, and OpenSSH).
func privateKey(in resource.PropertyMap) (resource.PropertyMap, error) {
	var key crypto.Signer
	var der []byte
	var block string
	var err error
	switch alg := str(in, "algorithm", "RSA"); alg {
	case "RSA":
		k, e := rsa.GenerateKey(rand.Reader, num(in, "rsaBits", 2048))
		key, der, block, err = k, x509.MarshalPKCS1PrivateKey(k), "RSA PRIVATE KEY", e
	case "ECDSA":
		curves := map[string]elliptic.Curve{"P224": elliptic.P224(), "P256": elliptic.P256(), "P384": elliptic.P384(), "P521": elliptic.P521()}
		c, ok := curves[str(in, "ecdsaCurve", "P224")]
		if !ok {
			return nil, fmt.Errorf("unknown ecdsaCurve %q", str(in, "ecdsaCurve", ""))
		}
		k, e := ecdsa.GenerateKey(c, rand.Reader)
		if e != nil {
			return nil, e
		}
		der, err = x509.MarshalECPrivateKey(k)
		key, block = k, "EC PRIVATE KEY"
	case "ED25519":
		_, k, e := ed25519.GenerateKey(rand.Reader)
		if e != nil {
			return nil, e
		}
		der, err = x509.MarshalPKCS8PrivateKey(k)
		key, block = k, "PRIVATE KEY"
	default:
		return nil, fmt.Errorf("unknown algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	out := resource.PropertyMap{
		"privateKeyPem":      resource.NewStringProperty(pemOf(block, der)),
		"privateKeyPemPkcs8": resource.NewStringProperty(pemOf("PRIVATE KEY", pkcs8)),
		"publicKeyPem":       resource.NewStringProperty(pemOf("PUBLIC KEY", pub)),
	}
	if sshPub, err := ssh.NewPublicKey(key.Public()); err == nil {
		out["publicKeyOpenssh"] = resource.NewStringProperty(string(ssh.MarshalAuthorizedKey(sshPub)))
		out["publicKeyFingerprintSha256"] = resource.NewStringProperty(ssh.FingerprintSHA256(sshPub))
		if b, err := ssh.MarshalPrivateKey(key, ""); err == nil {
			out["privateKeyOpenssh"] = resource.NewStringProperty(string(pem.EncodeToMemory(b)))
		}
	}
	return out, nil
}

func pemOf(block string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: block, Bytes: der}))
}

func parseKey(p string) (crypto.Signer, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		return nil, errors.New("no PEM private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("the private key cannot sign")
	}
	return s, nil
}

// subject reads a subject block (commonName, organization, ...).
func subject(in resource.PropertyMap) pkix.Name {
	s := object(in, "subject")
	n := pkix.Name{CommonName: str(s, "commonName", ""), SerialNumber: str(s, "serialNumber", "")}
	for key, dst := range map[string]*[]string{
		"organization": &n.Organization, "organizationalUnit": &n.OrganizationalUnit, "country": &n.Country,
		"province": &n.Province, "locality": &n.Locality, "streetAddress": &n.StreetAddress, "postalCode": &n.PostalCode,
	} {
		if v := str(s, key, ""); v != "" {
			*dst = []string{v}
		}
	}
	return n
}

// template is a certificate's validity, uses and names from the inputs.
func template(in resource.PropertyMap, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	hours := num(in, "validityPeriodHours", 0)
	if hours < 1 {
		return nil, errors.New("validityPeriodHours must be positive")
	}
	t := &x509.Certificate{
		SerialNumber: serial, NotBefore: now, NotAfter: now.Add(time.Duration(hours) * time.Hour),
		BasicConstraintsValid: true, IsCA: boolean(in, "isCaCertificate", false),
	}
	for _, u := range strs(in, "allowedUses") {
		switch u {
		case "digital_signature":
			t.KeyUsage |= x509.KeyUsageDigitalSignature
		case "key_encipherment":
			t.KeyUsage |= x509.KeyUsageKeyEncipherment
		case "cert_signing":
			t.KeyUsage |= x509.KeyUsageCertSign
		case "crl_signing":
			t.KeyUsage |= x509.KeyUsageCRLSign
		case "server_auth":
			t.ExtKeyUsage = append(t.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		case "client_auth":
			t.ExtKeyUsage = append(t.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		default:
			return nil, fmt.Errorf("allowed use %q is not one nano uses", u)
		}
	}
	return t, nil
}

func names(in resource.PropertyMap) ([]string, []net.IP, error) {
	var ips []net.IP
	for _, a := range strs(in, "ipAddresses") {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, nil, fmt.Errorf("%q is not an IP address", a)
		}
		ips = append(ips, ip)
	}
	return strs(in, "dnsNames"), ips, nil
}

func certOutputs(der []byte, t *x509.Certificate) resource.PropertyMap {
	return resource.PropertyMap{
		"certPem":           resource.NewStringProperty(pemOf("CERTIFICATE", der)),
		"validityStartTime": resource.NewStringProperty(t.NotBefore.UTC().Format(time.RFC3339)),
		"validityEndTime":   resource.NewStringProperty(t.NotAfter.UTC().Format(time.RFC3339)),
		"readyForRenewal":   resource.NewBoolProperty(false),
	}
}

func selfSignedCert(in resource.PropertyMap) (resource.PropertyMap, error) {
	key, err := parseKey(str(in, "privateKeyPem", ""))
	if err != nil {
		return nil, err
	}
	t, err := template(in, time.Now())
	if err != nil {
		return nil, err
	}
	t.Subject = subject(in)
	if t.DNSNames, t.IPAddresses, err = names(in); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return certOutputs(der, t), nil
}

func certRequest(in resource.PropertyMap) (resource.PropertyMap, error) {
	key, err := parseKey(str(in, "privateKeyPem", ""))
	if err != nil {
		return nil, err
	}
	req := &x509.CertificateRequest{Subject: subject(in)}
	if req.DNSNames, req.IPAddresses, err = names(in); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, req, key)
	if err != nil {
		return nil, err
	}
	return resource.PropertyMap{"certRequestPem": resource.NewStringProperty(pemOf("CERTIFICATE REQUEST", der))}, nil
}

// locallySignedCert signs a request with a CA: the request's subject and
// names, the inputs' validity and uses.
func locallySignedCert(in resource.PropertyMap) (resource.PropertyMap, error) {
	caKey, err := parseKey(str(in, "caPrivateKeyPem", ""))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode([]byte(str(in, "caCertPem", "")))
	if cb == nil {
		return nil, errors.New("no PEM CA certificate")
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	rb, _ := pem.Decode([]byte(str(in, "certRequestPem", "")))
	if rb == nil {
		return nil, errors.New("no PEM certificate request")
	}
	req, err := x509.ParseCertificateRequest(rb.Bytes)
	if err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, err
	}
	t, err := template(in, time.Now())
	if err != nil {
		return nil, err
	}
	t.Subject, t.DNSNames, t.IPAddresses = req.Subject, req.DNSNames, req.IPAddresses
	der, err := x509.CreateCertificate(rand.Reader, t, ca, req.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	return certOutputs(der, t), nil
}
