package components

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/amconfig"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/stacks/program/mockmonitor"
)

func platformSpec(t *testing.T, name tier.Name) kubeobjects.Spec {
	t.Helper()
	spec, _ := tier.Lookup(name)
	s := kubeobjects.Spec{
		Deployment: "demo", Tier: spec,
		Images: settings.Images{API: "r/api:1", Search: "r/search:1", Ingest: "r/ingest:1", Web: "r/web:1"},
	}
	if s.Backups() {
		s.Backup = &kubeobjects.Backup{DestinationPath: "s3://warm/demo/postgres/", EndpointURL: "https://s3.example.com"}
	}
	if spec.ClickHouse.Cloud {
		s.ClickHouse = &kubeobjects.Endpoint{Host: "ch.example.com", Port: 9440}
		s.Postgres = &kubeobjects.Endpoint{Host: "pg.example.com", Port: 5432}
	}
	return s
}

func runPlatform(t *testing.T, name tier.Name, adjust ...func(*PlatformArgs)) []mockmonitor.Resource {
	t.Helper()
	mocks := &mockmonitor.Recorder{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "cluster", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String("apiVersion: v1")})
		if err != nil {
			return err
		}
		args := &PlatformArgs{Spec: platformSpec(t, name), Provider: k8s}
		args.Spec.Backup = nil // the component takes it from the warm bucket
		if args.Spec.Tier.ClickHouse.WarmS3 {
			args.Warm = &WarmBucket{Endpoint: pulumi.String("https://s3.example.com/warm/demo/"), Region: pulumi.String(""),
				AccessKeyID: pulumi.String("AKIA"), SecretAccessKey: pulumi.String("s3cr3t")}
		}
		if args.Spec.Tier.ClickHouse.Cloud {
			args.ClickHousePassword, args.PostgresURI = pulumi.String("pw"), pulumi.String("postgres://nano:pw@pg.example.com:5432/nano?sslmode=verify-full")
		}
		for _, f := range adjust {
			f(args)
		}
		_, err = NewPlatform(ctx, "demo", args)
		return err
	}, pulumi.WithMocks("nano", "test", mocks))
	if err != nil {
		t.Fatal(err)
	}
	return mocks.Resources()
}

func TestPlatformRegistersEveryObjectOnTheCluster(t *testing.T) {
	t.Parallel()
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Pro, tier.Enterprise} {
		t.Run(string(name), func(t *testing.T) {
			spec := platformSpec(t, name)
			objects, err := kubeobjects.Objects(spec)
			if err != nil {
				t.Fatal(err)
			}
			resources := runPlatform(t, name)
			counts := map[string]int{}
			var releases []string
			for _, r := range resources {
				counts[r.Type]++
				if r.Type == "kubernetes:helm.sh/v3:Release" {
					releases = append(releases, r.Name)
				}
			}
			for _, o := range objects {
				if counts[o.TypeToken()] == 0 {
					t.Errorf("%s %s was not registered", o.TypeToken(), o.Name())
				}
			}
			// ClickHouse auth, ingest tokens, native TLS, api credentials
			// key, ingest's and search's PostgreSQL and ClickHouse logins,
			// and Alertmanager's configuration.
			wantReleases, wantSecrets := 2, 9
			if spec.Tier.ClickHouse.Cloud {
				wantReleases, wantSecrets = 0, 10 // + the managed PostgreSQL URI
			}
			if spec.Tier.ClickHouse.WarmS3 {
				wantSecrets++
			}
			if len(releases) != wantReleases {
				t.Errorf("operator releases %v, want %d", releases, wantReleases)
			}
			objectSecrets := 0
			for _, o := range objects {
				if o.Kind() == "Secret" {
					objectSecrets++
				}
			}
			if got := counts["kubernetes:core/v1:Secret"] - objectSecrets; got != wantSecrets {
				t.Errorf("%d secrets, want %d", got, wantSecrets)
			}
			for _, r := range resources {
				if !strings.HasPrefix(r.Type, "kubernetes:") {
					continue
				}
				if !strings.Contains(r.Provider, "pulumi:providers:kubernetes::cluster") {
					t.Errorf("%s %s is not on the cluster's provider (%q)", r.Type, r.Name, r.Provider)
				}
				if r.Type == "kubernetes:core/v1:Secret" && !r.Inputs["stringData"].IsSecret() {
					t.Errorf("secret %s is stored in plaintext", r.Name)
				}
				if strings.Contains(r.Type, "altinity.com") || strings.Contains(r.Type, "cnpg.io") {
					deps := strings.Join(r.Dependencies, " ")
					for _, rel := range releases {
						if !strings.Contains(deps, rel) {
							t.Errorf("%s does not wait for operator %s", r.Name, rel)
						}
					}
				}
			}
		})
	}
}

// With a domain, cert-manager issues api/search's certificate (its
// ClusterIssuer waits for it), and Traefik is installed where the cluster
// has no ingress controller of its own.
func TestPlatformInstallsHTTPSIngress(t *testing.T) {
	t.Parallel()
	for _, class := range []string{"", "traefik"} {
		resources := runPlatform(t, tier.Team, func(a *PlatformArgs) { a.Spec.Domain, a.Spec.IngressClass = "logs.example.com", class })
		releases := map[string]string{}
		var issuer, ingress *mockmonitor.Resource
		for i, r := range resources {
			switch r.Type {
			case "kubernetes:helm.sh/v3:Release":
				releases[r.Name] = r.URN
			case "kubernetes:cert-manager.io/v1:ClusterIssuer":
				issuer = &resources[i]
			case "kubernetes:networking.k8s.io/v1:Ingress":
				ingress = &resources[i]
			}
		}
		if releases["demo-cert-manager"] == "" {
			t.Errorf("class %q: no cert-manager release: %v", class, releases)
		}
		if _, traefik := releases["demo-traefik"]; traefik != (class == "") {
			t.Errorf("class %q: traefik installed %v", class, traefik)
		}
		if issuer == nil || !slices.Contains(issuer.Dependencies, releases["demo-cert-manager"]) {
			t.Errorf("class %q: the ClusterIssuer does not wait for cert-manager: %+v", class, issuer)
		}
		want := class
		if want == "" {
			want = "traefik"
		}
		if ingress == nil || ingress.Inputs["spec"].ObjectValue()["ingressClassName"].StringValue() != want {
			t.Errorf("class %q: the Ingress does not use class %s", class, want)
		}
	}
}

func TestPlatformArgsValidate(t *testing.T) {
	t.Parallel()
	err := (&PlatformArgs{Spec: platformSpec(t, tier.Team)}).validate()
	if err == nil {
		t.Fatal("accepted args without a provider or warm credentials")
	}
	for _, want := range []string{"a Kubernetes provider is required", `tier "team" needs the warm bucket's endpoint, region, access key id and secret`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\ndoes not say %q", err, want)
		}
	}
}

// ingest's and search's logins are Secrets of their own with generated
// passwords: PostgreSQL's basic-auth (CloudNativePG's managed roles read
// them) with the role's URI (the cluster's read-write Service, or the
// managed database's host with the role in place of the owner),
// ClickHouse's with the user's name.
func TestPlatformMakesEachServiceItsLogins(t *testing.T) {
	t.Parallel()
	for _, name := range []tier.Name{tier.Team, tier.Enterprise} {
		secrets := map[string]map[string]string{}
		types := map[string]string{}
		for _, r := range runPlatform(t, name) {
			if r.Type != "kubernetes:core/v1:Secret" {
				continue
			}
			n := r.Inputs["metadata"].ObjectValue()["name"].StringValue()
			data := map[string]string{}
			for k, v := range r.Inputs["stringData"].SecretValue().Element.ObjectValue() {
				if v.IsSecret() {
					v = v.SecretValue().Element
				}
				data[string(k)] = v.StringValue()
			}
			secrets[n], types[n] = data, r.Inputs["type"].StringValue()
		}
		uri := map[string]string{
			"nano_ingest": "postgresql://nano_ingest:generatedAtDeploy@nano-pg-rw.nano:5432/nano",
			"nano_search": "postgresql://nano_search:generatedAtDeploy@nano-pg-rw.nano:5432/nano",
		}
		if name == tier.Enterprise {
			uri = map[string]string{
				"nano_ingest": "postgres://nano_ingest:generatedAtDeploy@pg.example.com:5432/nano?sslmode=verify-full",
				"nano_search": "postgres://nano_search:generatedAtDeploy@pg.example.com:5432/nano?sslmode=verify-full",
			}
		}
		for _, l := range []struct{ role, pg, ch string }{
			{"nano_ingest", kubeobjects.SecretPostgresIngest, kubeobjects.SecretClickHouseIngest},
			{"nano_search", kubeobjects.SecretPostgresSearch, kubeobjects.SecretClickHouseSearch},
		} {
			pg := secrets[l.pg]
			if types[l.pg] != "kubernetes.io/basic-auth" || pg["username"] != l.role || pg["password"] != "generatedAtDeploy" || pg["uri"] != uri[l.role] {
				t.Errorf("%s: %s is %s %v", name, l.pg, types[l.pg], pg)
			}
			if ch := secrets[l.ch]; ch["username"] != l.role || ch["password"] != "generatedAtDeploy" {
				t.Errorf("%s: %s is %v", name, l.ch, ch)
			}
		}
	}
}

// Alertmanager's configuration is a Secret (nano's default while the key
// is unset, else the stack's), stored as a secret; its pods carry the
// configuration's hash, so a change restarts them.
func TestPlatformWritesTheAlertmanagerConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []string{"", "route:\n  receiver: ops\nreceivers:\n  - name: ops\n"} {
		res := runPlatform(t, tier.Team, func(a *PlatformArgs) { a.AlertmanagerConfig = cfg })
		var secret, set *mockmonitor.Resource
		for i, r := range res {
			switch {
			case r.Type == "kubernetes:core/v1:Secret" && r.Name == "demo-"+kubeobjects.SecretAlertmanager:
				secret = &res[i]
			case r.Type == "kubernetes:apps/v1:StatefulSet" && strings.HasSuffix(r.Name, "-alertmanager"):
				set = &res[i]
			}
		}
		if secret == nil || set == nil {
			t.Fatalf("no Alertmanager Secret (%v) or StatefulSet (%v)", secret != nil, set != nil)
		}
		data := secret.Inputs["stringData"]
		if !data.IsSecret() {
			t.Error("Alertmanager's configuration is stored in plaintext")
		}
		if got := inputAt(*secret, "stringData", kubeobjects.AlertmanagerConfigKey); got != amconfig.Effective(cfg) {
			t.Errorf("the Secret holds %q, want %q", got, amconfig.Effective(cfg))
		}
		if hash := inputAt(*set, "spec", "template", "metadata", "annotations", "nano.dev/alertmanager-config"); hash != kubeobjects.ConfigHash(amconfig.Effective(cfg)) {
			t.Errorf("the pods' configuration hash %q", hash)
		}
	}
}

// inputAt is the string at path in a resource's inputs, through secrets.
func inputAt(r mockmonitor.Resource, path ...string) string {
	v := resource.NewObjectProperty(r.Inputs)
	for _, k := range path {
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !v.IsObject() {
			return ""
		}
		v = v.ObjectValue()[resource.PropertyKey(k)]
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}
