package components

import (
	"encoding/base64"
	"fmt"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/services/contract"
)

// accessCredentials are a deployment's first credentials: what log
// shippers present to ingest (a bearer token for the HTTP port, a Splunk
// HEC token, a GUID as Splunk's are, and the Vector-native port's mutual
// TLS) and the api's first admin token (contract.APIAdminToken), so the
// operator needs no shell on a server to start. All are generated once,
// kept in the state and secret.
type accessCredentials struct {
	ingestToken, hecToken, adminToken pulumi.StringOutput
	tls                               *nativeTLS
}

// The server certificate names domain (if any), the IP addresses ips and
// the DNS names hosts (a load balancer's address, IP or hostname).
func newAccessCredentials(ctx *pulumi.Context, name, domain string, ips, hosts pulumi.StringArrayInput, parent pulumi.ResourceOption) (*accessCredentials, error) {
	token, err := random.NewRandomPassword(ctx, name+"-ingest-token", &random.RandomPasswordArgs{
		Length: pulumi.Int(48), Special: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, err
	}
	hec, err := random.NewRandomUuid(ctx, name+"-hec-token", &random.RandomUuidArgs{},
		parent, pulumi.AdditionalSecretOutputs([]string{"result"}))
	if err != nil {
		return nil, err
	}
	native, err := newNativeTLS(ctx, name, domain, ips, hosts, parent)
	if err != nil {
		return nil, err
	}
	admin, err := random.NewRandomBytes(ctx, name+"-admin-token", &random.RandomBytesArgs{Length: pulumi.Int(32)}, parent)
	if err != nil {
		return nil, err
	}
	adminToken := admin.Base64.ApplyT(apiToken).(pulumi.StringOutput)
	return &accessCredentials{ingestToken: secret(token.Result), hecToken: secret(hec.Result), adminToken: secret(adminToken), tls: native}, nil
}

// apiToken is the api token (contract.APITokenPrefix and 43 characters of
// base64url) made of 32 random bytes given in base64.
func apiToken(b64 string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("the admin token's random bytes are not 32 bytes of base64")
	}
	return contract.APITokenPrefix + base64.RawURLEncoding.EncodeToString(raw), nil
}

// AccessOutputs are the credentials a component exports.
type AccessOutputs struct {
	// AdminToken (the api's first admin token), IngestToken and HECToken
	// are secrets.
	AdminToken  pulumi.StringOutput `pulumi:"adminToken"`
	IngestToken pulumi.StringOutput `pulumi:"ingestToken"`
	HECToken    pulumi.StringOutput `pulumi:"hecToken"`
	// The native port's CA, and a client certificate (key secret) for an
	// aggregator.
	NativeCACert   pulumi.StringOutput `pulumi:"nativeCaCert"`
	AggregatorCert pulumi.StringOutput `pulumi:"aggregatorCert"`
	AggregatorKey  pulumi.StringOutput `pulumi:"aggregatorKey"`
}

func (c *accessCredentials) outputs() AccessOutputs {
	return AccessOutputs{
		AdminToken: c.adminToken, IngestToken: c.ingestToken, HECToken: c.hecToken,
		NativeCACert: c.tls.caCert, AggregatorCert: c.tls.clientCert, AggregatorKey: secret(c.tls.clientKey),
	}
}

// outputMap adds the credentials to a component's registered outputs.
func (o AccessOutputs) outputMap(m pulumi.Map) pulumi.Map {
	m["adminToken"], m["ingestToken"], m["hecToken"] = o.AdminToken, o.IngestToken, o.HECToken
	m["nativeCaCert"], m["aggregatorCert"], m["aggregatorKey"] = o.NativeCACert, o.AggregatorCert, o.AggregatorKey
	return m
}

// Certificate lifetimes of the native port's mutual TLS.
const (
	caValidityHours   = 10 * 365 * 24
	certValidityHours = 2 * 365 * 24
	certRenewHours    = 30 * 24
)

// nativeTLS is the mutual TLS of the Vector-native port: a deployment CA, the
// server's certificate and one client certificate for an aggregator.
type nativeTLS struct {
	caCert, serverCert, serverKey, clientCert, clientKey pulumi.StringOutput
}

func newNativeTLS(ctx *pulumi.Context, name, domain string, ips, hosts pulumi.StringArrayInput, parent pulumi.ResourceOption) (*nativeTLS, error) {
	key := func(suffix string) (*tls.PrivateKey, error) {
		return tls.NewPrivateKey(ctx, name+"-"+suffix, &tls.PrivateKeyArgs{
			Algorithm: pulumi.String("ECDSA"), EcdsaCurve: pulumi.String("P256"),
		}, parent)
	}
	caKey, err := key("native-ca-key")
	if err != nil {
		return nil, err
	}
	ca, err := tls.NewSelfSignedCert(ctx, name+"-native-ca", &tls.SelfSignedCertArgs{
		PrivateKeyPem:       caKey.PrivateKeyPem,
		IsCaCertificate:     pulumi.Bool(true),
		ValidityPeriodHours: pulumi.Int(caValidityHours),
		AllowedUses:         pulumi.ToStringArray([]string{"cert_signing", "crl_signing"}),
		Subject: &tls.SelfSignedCertSubjectArgs{
			CommonName: pulumi.String(name + " nano native CA"), Organization: pulumi.String("nano"),
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	sign := func(suffix string, k *tls.PrivateKey, subject string, dns, ips pulumi.StringArrayInput, use string) (*tls.LocallySignedCert, error) {
		csr, err := tls.NewCertRequest(ctx, name+"-"+suffix+"-csr", &tls.CertRequestArgs{
			PrivateKeyPem: k.PrivateKeyPem, DnsNames: dns, IpAddresses: ips,
			Subject: &tls.CertRequestSubjectArgs{CommonName: pulumi.String(subject), Organization: pulumi.String("nano")},
		}, parent)
		if err != nil {
			return nil, err
		}
		return tls.NewLocallySignedCert(ctx, name+"-"+suffix+"-cert", &tls.LocallySignedCertArgs{
			CertRequestPem: csr.CertRequestPem, CaPrivateKeyPem: caKey.PrivateKeyPem, CaCertPem: ca.CertPem,
			ValidityPeriodHours: pulumi.Int(certValidityHours), EarlyRenewalHours: pulumi.Int(certRenewHours),
			AllowedUses: pulumi.ToStringArray([]string{"digital_signature", "key_encipherment", use}),
		}, parent)
	}
	serverKey, err := key("native-server-key")
	if err != nil {
		return nil, err
	}
	var dns pulumi.StringArrayInput = pulumi.StringArray{}
	if domain != "" {
		dns = pulumi.StringArray{pulumi.String(domain)}
	}
	if hosts != nil {
		dns = pulumi.All(dns, hosts).ApplyT(func(v []any) []string {
			return append(append([]string{}, v[0].([]string)...), v[1].([]string)...)
		}).(pulumi.StringArrayOutput)
	}
	server, err := sign("native-server", serverKey, name+" ingest", dns, ips, "server_auth")
	if err != nil {
		return nil, err
	}
	clientKey, err := key("native-aggregator-key")
	if err != nil {
		return nil, err
	}
	client, err := sign("native-aggregator", clientKey, name+" aggregator", nil, nil, "client_auth")
	if err != nil {
		return nil, err
	}
	return &nativeTLS{
		caCert: ca.CertPem, serverCert: server.CertPem, serverKey: serverKey.PrivateKeyPem,
		clientCert: client.CertPem, clientKey: clientKey.PrivateKeyPem,
	}, nil
}
