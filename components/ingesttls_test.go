package components_test

import (
	"fmt"
	"strings"
	"testing"
)

// On a cloud cluster the shippers' ports are TLS and the server certificate
// names the ingest load balancer's address (here the plan's documentation
// IP), so a shipper given ingestHttpUrl verifies it without a domain.
func TestClusterIngestCertificateNamesTheLoadBalancer(t *testing.T) {
	t.Parallel()
	r := planStack(t, "team-gcp", nil)
	var found bool
	for _, res := range r.ByType("tls:index/certRequest:CertRequest") {
		if !strings.HasSuffix(res.Name, "-native-server-csr") {
			continue
		}
		found = true
		ips := res.Inputs["ipAddresses"]
		if !ips.IsArray() || len(ips.ArrayValue()) != 1 || ips.ArrayValue()[0].StringValue() != "203.0.113.20" {
			t.Errorf("the ingest server certificate's IP addresses: %v", ips)
		}
	}
	if !found {
		t.Fatal("no ingest server certificate request")
	}
	ingest := byName(t, r, "kubernetes:apps/v1:Deployment", "-deployment-ingest")
	if !strings.Contains(fmt.Sprint(ingest.Inputs), "NANO_INGEST_TLS_CERT") {
		t.Error("ingest's HTTP ports are not configured for TLS")
	}
}
