package settings

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/nanosiem/nano/stacks/model/tier"
)

// reClass is a Kubernetes object name (storage and ingress classes).
var reClass = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)

// existingCluster validates the keys of provider kubernetes, which no other
// provider takes; nil for the clouds.
func existingCluster(s Settings, get Getter, bad func(key, format string, args ...any)) *ExistingCluster {
	c := &ExistingCluster{
		Kubeconfig:   get(KeyKubeconfig),
		StorageClass: strings.TrimSpace(get(KeyStorageClass)), IngressClass: strings.TrimSpace(get(KeyIngressClass)),
		PostgresURI: strings.TrimSpace(get(KeyPostgresURI)),
	}
	operators := strings.ToLower(strings.TrimSpace(get(KeyKubeOperators)))
	if s.Provider != tier.Kubernetes {
		for _, k := range []struct{ key, v string }{
			{KeyKubeconfig, c.Kubeconfig}, {KeyStorageClass, c.StorageClass}, {KeyIngressClass, c.IngressClass},
			{KeyPostgresURI, c.PostgresURI},
		} {
			if k.v != "" {
				bad(k.key, "only provider %q (an existing cluster) takes it; nano builds the cluster on %q", tier.Kubernetes, s.Provider)
			}
		}
		if operators != "" && operators != OperatorsHelm {
			bad(KeyKubeOperators, "only provider %q (an existing cluster) takes it; nano builds the cluster on %q", tier.Kubernetes, s.Provider)
		}
		return nil
	}
	switch operators {
	case "", OperatorsHelm:
	case OperatorsPreinstalled:
		c.OperatorsPreinstalled = true
	default:
		bad(KeyKubeOperators, "%q is neither %q nor %q", operators, OperatorsHelm, OperatorsPreinstalled)
	}
	checkKubeconfig(c.Kubeconfig, bad)
	for _, k := range []struct{ key, v string }{{KeyStorageClass, c.StorageClass}, {KeyIngressClass, c.IngressClass}} {
		if k.v != "" && !reClass.MatchString(k.v) {
			bad(k.key, "%q is not a Kubernetes object name", k.v)
		}
	}
	if c.OperatorsPreinstalled && s.Domain != "" && c.IngressClass == "" {
		bad(KeyIngressClass, "required with %s:%s %s and a domain: name your ingress controller's class (nano installs no Traefik then)", Namespace, KeyKubeOperators, OperatorsPreinstalled)
	}
	if s.Tier.ClickHouse.WarmS3 && s.Warm == nil {
		bad(KeyWarmBucketURL, "required for tier %q with provider %q: nano creates no bucket in a cluster it did not build; name an S3-compatible bucket (and its keys)", s.Tier.Name, tier.Kubernetes)
	}
	checkPostgresURI(s.Tier, c.PostgresURI, bad)
	return c
}

// checkKubeconfig checks what can be checked of a kubeconfig offline: it is
// YAML with a current context that names a cluster with a server URL.
func checkKubeconfig(raw string, bad func(key, format string, args ...any)) {
	if raw == OfflineSecret {
		return // go run . plan cannot decrypt it
	}
	if strings.TrimSpace(raw) == "" {
		bad(KeyKubeconfig, "required with provider %q; set it with: pulumi config set --secret %s:%s < kubeconfig.yaml", tier.Kubernetes, Namespace, KeyKubeconfig)
		return
	}
	var kc struct {
		CurrentContext string `json:"current-context"`
		Contexts       []struct {
			Name    string `json:"name"`
			Context struct {
				Cluster string `json:"cluster"`
			} `json:"context"`
		} `json:"contexts"`
		Clusters []struct {
			Name    string `json:"name"`
			Cluster struct {
				Server string `json:"server"`
			} `json:"cluster"`
		} `json:"clusters"`
	}
	if err := yaml.Unmarshal([]byte(raw), &kc); err != nil {
		// The decoder's error names Go types, not the file: say what is wrong.
		bad(KeyKubeconfig, "is not a kubeconfig: expected a YAML mapping with clusters, users, contexts and current-context")
		return
	}
	if kc.CurrentContext == "" {
		bad(KeyKubeconfig, "has no current-context; nano deploys into the current context")
		return
	}
	for _, ctx := range kc.Contexts {
		if ctx.Name != kc.CurrentContext {
			continue
		}
		for _, cl := range kc.Clusters {
			if cl.Name != ctx.Context.Cluster {
				continue
			}
			if u, err := url.Parse(cl.Cluster.Server); err != nil || u.Scheme != "https" || u.Host == "" {
				bad(KeyKubeconfig, "cluster %q's server %q is not an https URL", cl.Name, cl.Cluster.Server)
			}
			return
		}
		bad(KeyKubeconfig, "context %q names cluster %q, which the kubeconfig does not define", ctx.Name, ctx.Context.Cluster)
		return
	}
	bad(KeyKubeconfig, "current-context %q is not one of its contexts", kc.CurrentContext)
}

// checkPostgresURI: Enterprise's managed PostgreSQL, given on an existing
// cluster (nano creates Cloud SQL or RDS only in clusters it builds).
func checkPostgresURI(spec tier.Spec, uri string, bad func(key, format string, args ...any)) {
	if !spec.Postgres.Managed {
		if uri != "" {
			bad(KeyPostgresURI, "only tier %q uses a managed PostgreSQL; tier %q runs its own", tier.Enterprise, spec.Name)
		}
		return
	}
	if uri == OfflineSecret {
		return
	}
	if uri == "" {
		bad(KeyPostgresURI, "required for tier %q with provider %q; set it with: pulumi config set --secret %s:%s postgres://user:password@host:5432/nano?sslmode=verify-full", spec.Name, tier.Kubernetes, Namespace, KeyPostgresURI)
		return
	}
	u, err := url.Parse(uri)
	_, _, hostOK := PostgresEndpoint(uri)
	if err != nil || !hostOK || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil || strings.Trim(u.Path, "/") == "" {
		// The error would repeat the URI, password included: name the shape only.
		bad(KeyPostgresURI, "is not a libpq URI like postgres://user:password@host:5432/nano?sslmode=verify-full")
	}
}

// PostgresEndpoint is the host and port of a libpq URI (port 5432 when it
// names none); ok is false when it is no such URI.
func PostgresEndpoint(uri string) (host string, port int, ok bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Hostname() == "" {
		return "", 0, false
	}
	port = 5432
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return "", 0, false
		}
	}
	return u.Hostname(), port, true
}
