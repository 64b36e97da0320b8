package components

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/services/contract"
)

// Endpoints are where users and log shippers reach a deployment that has a
// public address of its own (Compose hosts and self-managed clusters).
type Endpoints struct {
	PublicIP  pulumi.StringOutput `pulumi:"publicIp"`
	APIURL    pulumi.StringOutput `pulumi:"apiUrl"`
	SearchURL pulumi.StringOutput `pulumi:"searchUrl"`
	// WebURL is the analyst UI (every path but api's and search's).
	WebURL              pulumi.StringOutput `pulumi:"webUrl"`
	IngestHTTPURL       pulumi.StringOutput `pulumi:"ingestHttpUrl"`
	IngestHECURL        pulumi.StringOutput `pulumi:"ingestHecUrl"`
	IngestNativeAddress pulumi.StringOutput `pulumi:"ingestNativeAddress"`
	// IngestOTLPAddress is OTLP/gRPC's host:port (TLS).
	IngestOTLPAddress pulumi.StringOutput `pulumi:"ingestOtlpAddress"`
	// HTTPSAddress is where the domain's DNS record must point (api and
	// search); "" where they are not exposed.
	HTTPSAddress pulumi.StringOutput `pulumi:"httpsAddress"`
	// SSHPrivateKey is set (secret) when the admin key pair was generated.
	SSHPrivateKey pulumi.StringOutput `pulumi:"sshPrivateKey"`
}

// newEndpoints derives the URLs: api and search under https://host/ (only
// with a domain unless byIP: a Compose host's Caddy serves them on its IP
// too, a Growth cluster's Ingress only exists for a domain, and outputs
// name only what answers), the ingest ports on the public IP (or the
// domain) with ingestScheme.
func newEndpoints(ip pulumi.StringOutput, domain, ingestScheme string, byIP bool, sshPrivateKey pulumi.StringOutput) Endpoints {
	host := ip
	if domain != "" {
		host = pulumi.String(domain).ToStringOutput()
	}
	api := pulumi.Sprintf("https://%s%s", host, contract.APIPrefix)
	search := pulumi.Sprintf("https://%s%s", host, contract.SearchPrefix)
	web := pulumi.Sprintf("https://%s/", host)
	https := ip
	if domain == "" && !byIP {
		none := pulumi.String("").ToStringOutput()
		api, search, web, https = none, none, none, none
	}
	return Endpoints{
		PublicIP:            ip,
		APIURL:              api,
		SearchURL:           search,
		WebURL:              web,
		IngestHTTPURL:       pulumi.Sprintf("%s://%s:%d", ingestScheme, host, contract.Ports.IngestHTTP),
		IngestHECURL:        pulumi.Sprintf("%s://%s:%d", ingestScheme, host, contract.Ports.IngestHEC),
		IngestNativeAddress: pulumi.Sprintf("%s:%d", host, contract.Ports.IngestNative),
		IngestOTLPAddress:   pulumi.Sprintf("%s:%d", host, contract.Ports.IngestOTLP),
		HTTPSAddress:        https,
		SSHPrivateKey:       sshPrivateKey,
	}
}

// newClusterEndpoints are the URLs of a cloud Kubernetes cluster, where two
// load balancers face users: ingest's (its ports, all TLS, the certificate
// naming the load balancer's address) and the ingress controller's (HTTPS for api and
// search, only with a domain, whose DNS must point at httpsAddress).
func newClusterEndpoints(ingestAddress, httpsAddress pulumi.StringOutput, domain string) Endpoints {
	e := Endpoints{
		PublicIP:            ingestAddress,
		IngestHTTPURL:       pulumi.Sprintf("https://%s:%d", ingestAddress, contract.Ports.IngestHTTP),
		IngestHECURL:        pulumi.Sprintf("https://%s:%d", ingestAddress, contract.Ports.IngestHEC),
		IngestNativeAddress: pulumi.Sprintf("%s:%d", ingestAddress, contract.Ports.IngestNative),
		IngestOTLPAddress:   pulumi.Sprintf("%s:%d", ingestAddress, contract.Ports.IngestOTLP),
		APIURL:              pulumi.String("").ToStringOutput(),
		SearchURL:           pulumi.String("").ToStringOutput(),
		WebURL:              pulumi.String("").ToStringOutput(),
		HTTPSAddress:        pulumi.String("").ToStringOutput(),
		SSHPrivateKey:       pulumi.String("").ToStringOutput(),
	}
	if domain != "" {
		e.APIURL = pulumi.Sprintf("https://%s%s", domain, contract.APIPrefix)
		e.SearchURL = pulumi.Sprintf("https://%s%s", domain, contract.SearchPrefix)
		e.WebURL = pulumi.Sprintf("https://%s/", domain)
		e.HTTPSAddress = httpsAddress
	}
	return e
}

// outputMap adds the endpoints to a component's registered outputs.
func (e Endpoints) outputMap(m pulumi.Map) pulumi.Map {
	m["publicIp"], m["apiUrl"], m["searchUrl"], m["webUrl"] = e.PublicIP, e.APIURL, e.SearchURL, e.WebURL
	m["ingestHttpUrl"], m["ingestHecUrl"], m["ingestNativeAddress"] = e.IngestHTTPURL, e.IngestHECURL, e.IngestNativeAddress
	m["ingestOtlpAddress"] = e.IngestOTLPAddress
	m["sshPrivateKey"], m["httpsAddress"] = e.SSHPrivateKey, e.HTTPSAddress
	return m
}
