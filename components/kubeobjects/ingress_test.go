package kubeobjects

import (
	"fmt"
	"testing"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// The Ingress routes the public prefixes (apiUrl, searchUrl) to api and
// search unstripped, and every other path to the web UI, on their ports: the services answer under those
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
		want := map[string][2]any{contract.APIPrefix: {"api", contract.Ports.API}, contract.SearchPrefix: {"search", contract.Ports.Search}, "/": {"web", contract.Ports.Web}}
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
