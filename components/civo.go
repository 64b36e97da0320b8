package components

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-civo/sdk/v2/go/civo"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/services/contract"
)

// Civo cluster settings: Cilium enforces NetworkPolicies (Flannel, Civo's
// default, does not); the cluster keeps Civo's Traefik for ingress.
const (
	civoNetworkCIDR  = "10.40.0.0/22"
	civoCNI          = "cilium"
	civoStorageClass = "civo-volume"
	civoIngressClass = "traefik"
	civoWarmMaxGB    = 500
)

// newCivo builds a Civo Kubernetes (k3s, HA control plane managed by Civo)
// cluster on a dedicated private network, behind a firewall that admits
// only the ingress ports and, on 6443, spec.APIAllowedCIDRs.
func newCivo(ctx *pulumi.Context, spec clusterSpec, parent pulumi.ResourceOption) (*builtCluster, error) {
	if len(spec.Pools) != 1 {
		return nil, fmt.Errorf("Civo clusters are built with one node pool, got %d", len(spec.Pools))
	}
	apiCIDRs, err := spec.apiCIDRs()
	if err != nil {
		return nil, err
	}
	region := pulumi.String(spec.Region)
	network, err := civo.NewNetwork(ctx, spec.Name+"-network", &civo.NetworkArgs{
		Label: pulumi.String(spec.Deployment), Region: region, CidrV4: pulumi.String(civoNetworkCIDR),
	}, parent)
	if err != nil {
		return nil, err
	}
	rule := func(port int, cidrs []string, label string) civo.FirewallIngressRuleArgs {
		return civo.FirewallIngressRuleArgs{
			Action: pulumi.String("allow"), Protocol: pulumi.String("tcp"), PortRange: pulumi.String(strconv.Itoa(port)),
			Cidrs: pulumi.ToStringArray(cidrs), Label: pulumi.String(label),
		}
	}
	world := []string{"0.0.0.0/0"}
	ingress := civo.FirewallIngressRuleArray{
		rule(80, world, "http: redirects to https, acme http-01"), rule(443, world, "https: api, search"),
		rule(contract.Ports.IngestHTTP, world, "ingest http"), rule(contract.Ports.IngestHEC, world, "ingest splunk hec"),
		rule(contract.Ports.IngestNative, world, "ingest vector native (mTLS)"),
		rule(contract.Ports.IngestOTLP, world, "ingest otlp grpc"),
		rule(contract.Ports.IngestSyslogTLS, world, "ingest syslog over tls"),
		rule(kubeAPIPort, apiCIDRs, "kubernetes api"),
	}
	firewall, err := civo.NewFirewall(ctx, spec.Name+"-firewall", &civo.FirewallArgs{
		Name: pulumi.String(spec.Deployment), Region: region, NetworkId: network.ID(),
		CreateDefaultRules: pulumi.Bool(false), IngressRules: ingress,
		EgressRules: civo.FirewallEgressRuleArray{civo.FirewallEgressRuleArgs{
			Action: pulumi.String("allow"), Protocol: pulumi.String("tcp"), PortRange: pulumi.String("1-65535"),
			Cidrs: pulumi.ToStringArray(world), Label: pulumi.String("all egress"),
		}},
	}, parent)
	if err != nil {
		return nil, err
	}
	p := spec.Pools[0]
	cluster, err := civo.NewKubernetesCluster(ctx, spec.Name+"-k8s", &civo.KubernetesClusterArgs{
		Name: pulumi.String(spec.Deployment), Region: region, NetworkId: network.ID(), FirewallId: firewall.ID(),
		ClusterType: pulumi.String("k3s"), Cni: pulumi.String(civoCNI), WriteKubeconfig: pulumi.Bool(true),
		Tags: pulumi.String(civoTags(spec.Labels)),
		Pools: &civo.KubernetesClusterPoolsArgs{
			Label: pulumi.String(string(p.Role)), Size: pulumi.String(p.MachineType), NodeCount: pulumi.Int(p.Nodes),
			Labels: pulumi.ToStringMap(p.nodeLabels()),
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	kc := secret(cluster.Kubeconfig)
	provider, err := kubernetes.NewProvider(ctx, spec.Name+"-civo", &kubernetes.ProviderArgs{Kubeconfig: kc}, parent)
	if err != nil {
		return nil, err
	}
	return &builtCluster{Kubeconfig: kc, Provider: provider, StorageClass: civoStorageClass, IngressClass: civoIngressClass,
		Ready: []pulumi.Resource{cluster}}, nil
}

// newCivoWarmBucket creates the warm tier's bucket as a Civo object store
// with its own credential. Civo object stores are private and served
// path-style from the region's endpoint.
func newCivoWarmBucket(ctx *pulumi.Context, name, deployment, region string, parent, keep pulumi.ResourceOption) (*WarmBucket, error) {
	cred, err := civo.NewObjectStoreCredential(ctx, name+"-warm", &civo.ObjectStoreCredentialArgs{
		Name: pulumi.String(deployment + "-warm"), Region: pulumi.String(region),
	}, parent)
	if err != nil {
		return nil, err
	}
	store, err := civo.NewObjectStore(ctx, name+"-warm", &civo.ObjectStoreArgs{
		Name: pulumi.String(deployment + "-warm"), Region: pulumi.String(region),
		MaxSizeGb: pulumi.Int(civoWarmMaxGB), AccessKeyId: cred.AccessKeyId,
	}, parent, keep)
	if err != nil {
		return nil, err
	}
	return &WarmBucket{
		Endpoint:    pulumi.Sprintf("https://objectstore.%s.civo.com/%s/%s/", strings.ToLower(region), store.Name, deployment),
		Region:      pulumi.String(""),
		AccessKeyID: secret(cred.AccessKeyId), SecretAccessKey: secret(cred.SecretAccessKey),
	}, nil
}

// civoTags renders labels as Civo's space-separated tags.
func civoTags(labels map[string]string) string {
	var tags []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		tags = append(tags, k+"="+labels[k])
	}
	return strings.Join(tags, " ")
}
