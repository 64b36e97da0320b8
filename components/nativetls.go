package components

import (
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

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

func newNativeTLS(ctx *pulumi.Context, name, domain string, ips pulumi.StringArrayInput, parent pulumi.ResourceOption) (*nativeTLS, error) {
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
	sign := func(suffix string, k *tls.PrivateKey, subject string, dns pulumi.StringArray, ips pulumi.StringArrayInput, use string) (*tls.LocallySignedCert, error) {
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
	var dns pulumi.StringArray
	if domain != "" {
		dns = pulumi.StringArray{pulumi.String(domain)}
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
