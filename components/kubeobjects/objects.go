package kubeobjects

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/nanosiem/nano/stacks/model/tier"
)

// Object is one Kubernetes object in its JSON form (apiVersion, kind,
// metadata, spec...).
type Object map[string]any

// APIVersion, Kind and Name read the object's identity.
func (o Object) APIVersion() string { return fmt.Sprint(o["apiVersion"]) }
func (o Object) Kind() string       { return fmt.Sprint(o["kind"]) }
func (o Object) Name() string {
	m, _ := o["metadata"].(map[string]any)
	return fmt.Sprint(m["name"])
}

// HoldsData reports whether deleting the object deletes the deployment's
// data: its namespace (with every volume claim in it), and the ClickHouse,
// Keeper and PostgreSQL clusters, whose operators delete their volumes.
func (o Object) HoldsData() bool {
	switch o.Kind() {
	case "Namespace", "ClickHouseInstallation", "ClickHouseKeeperInstallation":
		return true
	case "Cluster":
		return strings.HasPrefix(o.APIVersion(), "postgresql.cnpg.io/")
	}
	return false
}

// TypeToken is the object's Pulumi Kubernetes resource type
// ("kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service",
// "kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation").
func (o Object) TypeToken() string {
	gv := o.APIVersion()
	if !strings.Contains(gv, "/") {
		gv = "core/" + gv
	}
	return "kubernetes:" + gv + ":" + o.Kind()
}

// typed converts a k8s.io/api object into an Object, stamping its type.
func typed(apiVersion, kind string, v any) Object {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("platform: cannot encode %s: %v", kind, err)) // typed structs always encode
	}
	var o Object
	if err := json.Unmarshal(b, &o); err != nil {
		panic(fmt.Sprintf("platform: cannot decode %s: %v", kind, err))
	}
	o["apiVersion"], o["kind"] = apiVersion, kind
	delete(o, "status")
	if m, ok := o["metadata"].(map[string]any); ok {
		delete(m, "creationTimestamp")
	}
	return o
}

// Names and labels shared by the builders.
const (
	Namespace       = "nano"
	chiName         = "nano"
	chiCluster      = tier.OperatorClickHouseCluster
	chkName         = "nano-keeper"
	cnpgName        = "nano-pg"
	SearchCHService = "clickhouse-search"

	labelApp       = "app.kubernetes.io/name"
	labelPartOf    = "app.kubernetes.io/part-of"
	labelComponent = "app.kubernetes.io/component"

	// Labels the operators put on their pods.
	chiLabel     = "clickhouse.altinity.com/chi"
	chiReplica   = "clickhouse.altinity.com/replica"
	chkLabel     = "clickhouse-keeper.altinity.com/chk"
	cnpgLabel    = "cnpg.io/cluster"
	operatorsNSs = "nano-operators"

	// Secrets the Platform component creates (or, for managed databases,
	// fills from the cloud's outputs).
	SecretClickHouse = "nano-clickhouse-auth" // keys: username, password
	SecretIngest     = "nano-ingest-tokens"   // keys: ingest-token, hec-token
	SecretNativeTLS  = "nano-native-tls"      // keys: tls.crt, tls.key, ca.crt
	// SecretAPICredentials holds the key that seals stored integration
	XX
	SecretAPICredentials = "nano-api-credentials"
	SecretWarm           = "nano-warm-s3" // the deployment's bucket (warm tier, or Growth's backup bucket); keys: endpoint, region, access-key-id, ...
	// SecretPostgres holds key "uri"; CloudNativePG writes it as <cluster>-app.
	SecretPostgresManaged = "nano-postgres-app"
	// The logins of ingest and search (docs/security/database-roles.md), each
	// mounted by its service only. The PostgreSQL ones are
	// kubernetes.io/basic-auth (username, password; CloudNativePG's managed
	// roles read them) with the role's "uri"; the ClickHouse ones hold
	// username and password (the ClickHouseInstallation's users read them).
	SecretPostgresIngest   = "nano-postgres-ingest"
	SecretPostgresSearch   = "nano-postgres-search"
	SecretClickHouseIngest = "nano-clickhouse-ingest"
	SecretClickHouseSearch = "nano-clickhouse-search"
)

// Ports inside the cluster.
const (
	chNative   = 9000
	chHTTP     = 8123
	chInter    = 9009
	chMetrics  = 9363
	keeperPort = 2181
	raftPort   = 9444
	pgPort     = 5432
	promPort   = 9090
)

func labels(component string) map[string]string {
	return map[string]string{labelApp: component, labelPartOf: "nano", labelComponent: component}
}

func meta(name string, lbls map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: lbls}
}

func ptr[T any](v T) *T { return &v }

func qty(s string) resource.Quantity { return resource.MustParse(s) }

func gi(n int) string { return fmt.Sprintf("%dGi", n) }

func port(n int) intstr.IntOrString { return intstr.FromInt32(int32(n)) }

// restrictedContainer is the securityContext Pod Security "restricted"
// requires of every container.
func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		RunAsNonRoot:             ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// restrictedPod is the pod-level securityContext for a given uid.
func restrictedPod(uid int64) *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		RunAsUser:      ptr(uid),
		RunAsGroup:     ptr(uid),
		FSGroup:        ptr(uid),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func resources(cpuReq, memReq, cpuLim, memLim string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: qty(cpuReq), corev1.ResourceMemory: qty(memReq)},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: qty(cpuLim), corev1.ResourceMemory: qty(memLim)},
	}
}

// spread keeps pods with the given labels on different nodes: required on
// HA tiers (a node failure takes one replica at most), preferred otherwise.
func spread(lbls map[string]string, required bool) *corev1.Affinity {
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: lbls},
		TopologyKey:   "kubernetes.io/hostname",
	}
	if required {
		return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term},
		}}
	}
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}},
	}}
}

// evenSpread keeps an HA service's pods within one of each other per node
// (maxSkew 1 over the nodes its pool selector admits): on distinct nodes
// while there are at least as many nodes as pods, yet a pod more than
// nodes, such as a rolling update's surge pod or Enterprise's 4 replicas
// on 3 nodes, still schedules, which required anti-affinity forbids (it
// left pods Pending and rollouts waiting forever).
//
// The spread counts the pods of one revision (matchLabelKeys
// pod-template-hash): counting the old ReplicaSet's pods too, a rolling
// update ended with 2, 1 and 0 pods on three nodes (the Kubernetes rig
// showed it), as old pods leave in an order the scheduler did not plan for.
func evenSpread(lbls map[string]string) []corev1.TopologySpreadConstraint {
	return []corev1.TopologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
		LabelSelector: &metav1.LabelSelector{MatchLabels: lbls}, MatchLabelKeys: []string{"pod-template-hash"},
	}}
}

// placement pins pods to their dedicated pool, where the cluster has them;
// only the ClickHouse pool is tainted, so only its pods tolerate a taint.
func (s Spec) placement(pool string) (map[string]string, []corev1.Toleration) {
	if !s.dedicatedPools() || pool == "" {
		return nil, nil
	}
	selector := map[string]string{PoolLabel: pool}
	if pool != string(tier.ClickHouse) {
		return selector, nil
	}
	return selector, []corev1.Toleration{{
		Key: PoolTaint, Operator: corev1.TolerationOpEqual, Value: pool, Effect: corev1.TaintEffectNoSchedule,
	}}
}
