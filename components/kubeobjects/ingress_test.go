package kubeobjects

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// The Ingress routes the public prefixes (apiUrl, searchUrl) to api and
// search unstripped, on their ports: the services answer under those
// prefixes (servicemain.Prefixed, tested in services/api and
// services/search), so every Kubernetes tier's URLs reach a handler
// whatever the controller does with the path.
func TestIngressRoutesThePublicPrefixes(t *testing.T) {
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		objs := objects(t, specFor(t, name))
		ing := find(t, objs, "Ingress", "nano")
		if ann := get(t, ing, "metadata", "annotations").(map[string]any); len(ann) != 1 {
			t.Errorf("%s: Ingress annotations %v: a path rewrite would break the prefixes", name, ann)
		}
		paths := get(t, ing, "spec", "rules", 0, "http", "paths").([]any)
		want := map[string][2]any{contract.APIPrefix: {"api", contract.Ports.API}, contract.SearchPrefix: {"search", contract.Ports.Search}}
		if len(paths) != len(want) {
			t.Fatalf("%s: %d Ingress paths, want %d", name, len(paths), len(want))
		}
		for i := range paths {
			path := fmt.Sprint(get(t, ing, "spec", "rules", 0, "http", "paths", i, "path"))
			svc := fmt.Sprint(get(t, ing, "spec", "rules", 0, "http", "paths", i, "backend", "service", "name"))
			port := fmt.Sprint(get(t, ing, "spec", "rules", 0, "http", "paths", i, "backend", "service", "port", "number"))
			if w, ok := want[path]; !ok || svc != w[0] || port != fmt.Sprint(w[1]) {
				t.Errorf("%s: Ingress path %s goes to %s:%s", name, path, svc, port)
			}
			if pt := fmt.Sprint(get(t, ing, "spec", "rules", 0, "http", "paths", i, "pathType")); pt != "Prefix" {
				t.Errorf("%s: path %s has type %s", name, path, pt)
			}
			find(t, objs, "Service", svc)
		}
	}
}

// The api gets the key that seals stored credentials on every Kubernetes
// tier (without it /v1/credentials answers 503): the key file's path in
// its environment, from the Secret the platform generates.
func TestAPIGetsTheCredentialsKey(t *testing.T) {
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		objs := objects(t, specFor(t, name))
		dep := find(t, objs, "Deployment", "api")
		spec := fmt.Sprint(get(t, dep, "spec", "template", "spec"))
		for _, want := range []string{contract.APICredentialsKeyFile + " value:/etc/nano/secrets/api-credentials/key", "secretName:" + SecretAPICredentials} {
			if !strings.Contains(spec, want) {
				t.Errorf("%s: the api pod has no %q", name, want)
			}
		}
	}
}

// The api may fetch enrichment datasets from the public internet over
// HTTP(S), and only there: not private networks, not the clouds' metadata
// endpoint; search and ingest reach their databases only (in the cluster;
// Enterprise's are managed services outside it, on their ports).
func TestOnlyTheAPIReachesTheInternet(t *testing.T) {
	for _, name := range []tier.Name{tier.Growth, tier.Pro, tier.Enterprise} {
		objs := objects(t, specFor(t, name))
		api := fmt.Sprint(get(t, find(t, objs, "NetworkPolicy", "api"), "spec", "egress"))
		for _, want := range []string{"cidr:0.0.0.0/0", "169.254.0.0/16", "10.0.0.0/8", "port:443", "port:80"} {
			if !strings.Contains(api, want) {
				t.Errorf("%s: the api's egress lacks %s: %s", name, want, api)
			}
		}
		for _, svc := range []string{"search", "ingest"} {
			if eg := fmt.Sprint(get(t, find(t, objs, "NetworkPolicy", svc), "spec", "egress")); strings.Contains(eg, "0.0.0.0/0") && name != tier.Enterprise {
				t.Errorf("%s: %s may reach the internet: %s", name, svc, eg)
			}
		}
	}
}

// An override whose pods cannot fit their pool's nodes fails at plan time,
// naming the pool and what to change; the catalog's own tiers fit.
func TestPodsThatCannotScheduleAreRefused(t *testing.T) {
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		if _, err := Objects(specFor(t, name)); err != nil {
			t.Errorf("%s as the catalog has it: %v", name, err)
		}
	}
	s := specFor(t, tier.Team)
	s.Tier.Replicas = 40 // 3 x 4 CPU nodes cannot hold 120 app pods of 250m
	_, err := Objects(s)
	if err == nil || !strings.Contains(err.Error(), "the general pool's pods (40 api, 40 search, 40 ingest") || !strings.Contains(err.Error(), "lower nano:appReplicas") {
		t.Errorf("team with 40 replicas: %v", err)
	}
	p := specFor(t, tier.Pro)
	p.Tier.Replicas = 30
	if _, err := Objects(p); err == nil || !strings.Contains(err.Error(), "pool's pods") {
		t.Errorf("pro with 30 replicas: %v", err)
	}
}
