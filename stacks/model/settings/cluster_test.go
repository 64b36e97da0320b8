package settings

import (
	"strings"
	"testing"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://k8s.example.com:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`

func kube(extra map[string]string) map[string]string {
	m := map[string]string{KeyTier: "growth", KeyProvider: "kubernetes", KeyKubeconfig: testKubeconfig}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// An existing cluster takes its own keys and needs no region or machine
// type; Enterprise there reads its databases from config.
func TestLoadExistingCluster(t *testing.T) {
	t.Parallel()
	s, err := Load("growth-kubernetes", getter(kube(map[string]string{KeyStorageClass: "fast-ssd", KeyKubeOperators: "preinstalled", KeyIngressClass: "nginx", KeyDomain: "logs.example.com"})))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Cluster; c == nil || !c.OperatorsPreinstalled || c.StorageClass != "fast-ssd" || c.IngressClass != "nginx" || s.MachineType != "" {
		t.Errorf("existing cluster settings %+v, machine type %q", c, s.MachineType)
	}
	s, err = Load("enterprise-kubernetes", getter(kube(map[string]string{KeyTier: "enterprise", KeyDailyVolumeGB: "100",
		KeyCHCloudHost: "abc.eu-central-1.aws.clickhouse.cloud", KeyCHCloudPassword: "pw",
		KeyPostgresURI: "postgres://nano:pw@db.internal:6432/nano?sslmode=verify-full"})))
	if err != nil {
		t.Fatal(err)
	}
	if host, port, ok := PostgresEndpoint(s.Cluster.PostgresURI); !ok || host != "db.internal" || port != 6432 {
		t.Errorf("PostgreSQL endpoint %s:%d (%v)", host, port, ok)
	}
	if s, err := Load("hobby-hetzner", getter(hobby(nil))); err != nil || s.Cluster != nil {
		t.Errorf("a cloud stack has cluster settings %+v (%v)", s.Cluster, err)
	}
}

func TestLoadExistingClusterRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		cfg  map[string]string
		want string
	}{
		{"compose tier", kube(map[string]string{KeyTier: "hobby"}), `nano:provider: tier "hobby" does not run on "kubernetes"; allowed for hobby: hetzner`},
		{"no kubeconfig", kube(map[string]string{KeyKubeconfig: ""}), "nano:kubeconfig: required with provider \"kubernetes\"; set it with: pulumi config set --secret nano:kubeconfig < kubeconfig.yaml"},
		{"not yaml", kube(map[string]string{KeyKubeconfig: "just text"}), "nano:kubeconfig: is not a kubeconfig"},
		{"no context", kube(map[string]string{KeyKubeconfig: strings.Replace(testKubeconfig, "current-context: x", "current-context: other", 1)}), `nano:kubeconfig: current-context "other" is not one of its contexts`},
		{"plain http", kube(map[string]string{KeyKubeconfig: strings.Replace(testKubeconfig, "https://", "http://", 1)}), `is not an https URL`},
		{"machine type", kube(map[string]string{KeyMachineType: "cx22"}), `nano:machineType: has no effect with provider "kubernetes"`},
		{"operators", kube(map[string]string{KeyKubeOperators: "manual"}), `nano:kubeOperators: "manual" is neither "helm" nor "preinstalled"`},
		{"no ingress class", kube(map[string]string{KeyKubeOperators: "preinstalled", KeyDomain: "logs.example.com"}), "nano:ingressClass: required with nano:kubeOperators preinstalled and a domain"},
		{"bad class", kube(map[string]string{KeyStorageClass: "Fast SSD"}), `nano:storageClass: "Fast SSD" is not a Kubernetes object name`},
		{"no warm bucket", kube(map[string]string{KeyTier: "team"}), `nano:warmBucketUrl: required for tier "team" with provider "kubernetes"`},
		{"no postgres", kube(map[string]string{KeyTier: "enterprise", KeyDailyVolumeGB: "100", KeyCHCloudHost: "abc.aws.clickhouse.cloud", KeyCHCloudPassword: "pw"}), "nano:postgresUri: required for tier \"enterprise\" with provider \"kubernetes\""},
		{"bad postgres", kube(map[string]string{KeyTier: "enterprise", KeyDailyVolumeGB: "100", KeyCHCloudHost: "abc.aws.clickhouse.cloud", KeyCHCloudPassword: "pw", KeyPostgresURI: "mysql://secretpw@db/nano"}), "nano:postgresUri: is not a libpq URI"},
		{"endpoint service", kube(map[string]string{KeyTier: "enterprise", KeyDailyVolumeGB: "100", KeyCHCloudHost: "abc.aws.clickhouse.cloud", KeyCHCloudPassword: "pw",
			KeyPostgresURI: "postgres://u:p@db/nano", KeyCHCloudService: "com.amazonaws.vpce.eu-central-1.vpce-svc-0123456789abcdef0"}), "nano:clickhouseCloudEndpointService: unused with provider \"kubernetes\""},
		{"cluster key on a cloud", map[string]string{KeyTier: "team", KeyProvider: "aws", KeyRegion: "us-east-1", KeyStorageClass: "gp3"}, `nano:storageClass: only provider "kubernetes" (an existing cluster) takes it`},
		{"postgres on its own tier", kube(map[string]string{KeyPostgresURI: "postgres://u:p@db/nano"}), `nano:postgresUri: only tier "enterprise" uses a managed PostgreSQL`},
	} {
		_, err := Load("test-stack", getter(c.cfg))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: the message repeats a secret: %v", c.name, err)
		}
	}
}
