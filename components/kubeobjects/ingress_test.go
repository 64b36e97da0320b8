package kubeobjects

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	apiserver "github.com/nanosiem/nano/services/api/server"
	"github.com/nanosiem/nano/services/contract"
	searchserver "github.com/nanosiem/nano/services/search/server"
	"github.com/nanosiem/nano/services/servicemain"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// The Ingress routes the public prefixes (apiUrl, searchUrl) to api and
// search unstripped, and every other path to the web UI, on their ports: the services answer under those
// prefixes (servicemain.Prefixed, tested in services/api and
// services/search), so every Kubernetes tier's URLs reach a handler
// whatever the controller does with the path.
func TestIngressRoutesThePublicPrefixes(t *testing.T) {
	t.Parallel()
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		objs := objects(t, specFor(t, name))
		ing := find(t, objs, "Ingress", "nano")
		for k, v := range get(t, ing, "metadata", "annotations").(map[string]any) {
			if strings.Contains(k, "rewrite") || strings.Contains(fmt.Sprint(v), "strip") {
				t.Errorf("%s: Ingress annotation %s=%v: a path rewrite would break the prefixes", name, k, v)
			}
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

// HTTP never serves api, search or the UI in clear: on Traefik (every
// cluster nano builds) the HTTPS Ingress is bound to the websecure
// entrypoint with the HSTS middleware, and an Ingress of the web
// entrypoint, for the same hosts and paths, only redirects to HTTPS. A
// class that is not Traefik gets neither (its controller redirects).
func TestIngressRedirectsToHTTPSAndSendsHSTS(t *testing.T) {
	t.Parallel()
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		s := specFor(t, name)
		for _, class := range []string{"", IngressClassTraefik} {
			s.IngressClass = class
			objs := objects(t, s)
			https, plain := find(t, objs, "Ingress", "nano"), find(t, objs, "Ingress", HTTPIngress)
			ann := get(t, https, "metadata", "annotations").(map[string]any)
			if ann[traefikEntrypoints] != "websecure" || ann[traefikTLS] != "true" || ann[traefikMiddlewares] != TraefikMiddleware(MiddlewareHSTS) || ann[certManagerIssuer] != ClusterIssuer {
				t.Errorf("%s/%q: the HTTPS Ingress's annotations %v", name, class, ann)
			}
			hann := get(t, plain, "metadata", "annotations").(map[string]any)
			if hann[traefikEntrypoints] != "web" || hann[traefikMiddlewares] != TraefikMiddleware(MiddlewareRedirect) || hann[certManagerIssuer] != nil {
				t.Errorf("%s/%q: the HTTP Ingress's annotations %v", name, class, hann)
			}
			if fmt.Sprint(get(t, plain, "spec", "rules")) != fmt.Sprint(get(t, https, "spec", "rules")) || get(t, plain, "spec", "tls") != nil {
				t.Errorf("%s/%q: the HTTP Ingress must route exactly the HTTPS Ingress's hosts and paths, without TLS", name, class)
			}
			hsts := find(t, objs, "Middleware", MiddlewareHSTS)
			if n, _ := get(t, hsts, "spec", "headers", "stsSeconds").(int); n < 31536000 || get(t, hsts, "spec", "headers", "forceSTSHeader") != true {
				t.Errorf("%s: HSTS middleware %v", name, get(t, hsts, "spec"))
			}
			redirect := find(t, objs, "Middleware", MiddlewareRedirect)
			if get(t, redirect, "spec", "redirectScheme", "scheme") != "https" || get(t, redirect, "spec", "redirectScheme", "permanent") != true {
				t.Errorf("%s: redirect middleware %v", name, get(t, redirect, "spec"))
			}
		}
		// Another controller: no Traefik objects, which its cluster may not
		// know.
		s.IngressClass = "nginx"
		for _, o := range objects(t, s) {
			if o.Kind() == "Middleware" || (o.Kind() == "Ingress" && o.Name() == HTTPIngress) {
				t.Errorf("%s with class nginx: %s %s", name, o.Kind(), o.Name())
			}
		}
	}
}

// What the Ingress sends to api and search reaches their API alone: every
// path of the Ingress's rules for them, with the operational endpoints'
// paths below it (the Ingress forwards them unstripped), is refused by
// the services' real fronts (servicemain.Prefixed over their handlers),
// while the same endpoints at the services' own paths, where Prometheus
// and the probes read them inside the cluster, answer.
func TestIngressReachesNoOperationalEndpoint(t *testing.T) {
	t.Parallel()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	ready := func(context.Context) error { return nil }
	api := &apiserver.Server{Log: discard, Registry: prometheus.NewRegistry(), Ready: ready, Version: "v-test", Leading: func() bool { return false }}
	search := &searchserver.Server{Log: discard, Metrics: searchserver.NewMetrics(), Ready: ready, Config: searchserver.Config{Version: "v-test"}}
	apiHandler, searchHandler := api.Handler(), search.Handler()
	fronts := map[string]http.Handler{
		"api":    servicemain.Prefixed(contract.APIPrefix, apiHandler, api.Internal(apiHandler)),
		"search": servicemain.Prefixed(contract.SearchPrefix, searchHandler, search.Internal(searchHandler)),
	}
	ops := []string{"/metrics", "/readyz", "/healthz", "/version"}
	do := func(h http.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		ing := find(t, objects(t, specFor(t, name)), "Ingress", "nano")
		paths := get(t, ing, "spec", "rules", 0, "http", "paths").([]any)
		routed := 0
		for i := range paths {
			path := fmt.Sprint(get(t, ing, "spec", "rules", 0, "http", "paths", i, "path"))
			front, ok := fronts[fmt.Sprint(get(t, ing, "spec", "rules", 0, "http", "paths", i, "backend", "service", "name"))]
			if !ok {
				continue
			}
			routed++
			for _, op := range ops {
				if code, body := do(front, strings.TrimSuffix(path, "/")+op); code == 200 || strings.Contains(body, "v-test") || strings.Contains(body, "go_goroutines") {
					t.Errorf("%s: the Ingress's %s reaches %s: %d %.60q", name, path, op, code, body)
				}
			}
		}
		if routed != 2 {
			t.Errorf("%s: %d Ingress paths go to api or search, want 2", name, routed)
		}
	}
	for svc, front := range fronts {
		for _, op := range ops {
			if code, _ := do(front, op); code != 200 {
				t.Errorf("%s%s inside the cluster: %d", svc, op, code)
			}
		}
	}
}
