package tests

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/amconfig"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/stacks/program"
	"github.com/nanosiem/nano/tests/harness"
)

// The Kubernetes rig: every Kubernetes tier deployed by nano's real
// program, through the existing-cluster target (nano:provider kubernetes)
// and the real Pulumi Kubernetes provider, into a real control plane
// (kube-apiserver, kube-controller-manager, kube-scheduler on etcd) whose
// nodes are shaped like the tier's pools. The harness stands in for what
// needs machines (kubelets, load balancers, volumes: see harness.Kube);
// the random and tls plugins are the rig's stand-ins
// (tests/standinproviders); the operators are "preinstalled" (their CRDs
// are; no Helm chart can be fetched here, and the operators do not run, so
// ClickHouse and PostgreSQL pods are not created).

// rigCRDs are the CRDs the platform's custom resources need.
func rigCRDs(t *testing.T) []string {
	files, err := filepath.Glob("kubevalidate/crds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs under tests/kubevalidate/crds: %v", err)
	}
	return files
}

func startRig(t *testing.T) *harness.Kube {
	harness.Servers(t)
	t.Helper()
	start := time.Now()
	k, err := harness.StartKube(rigCRDs(t)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	t.Logf("rig: control plane up with %d CRD files in %s", len(rigCRDs(t)), time.Since(start).Round(time.Second))
	return k
}

// rigPools are Node pools shaped like the tier's (Enterprise's at band).
func rigPools(spec tier.Spec, band tier.VolumeBand) []harness.NodePool {
	pools := spec.Pools
	if spec.Kind == tier.Managed {
		pools = []tier.Pool{band.App, band.Ingest}
	}
	var out []harness.NodePool
	for _, p := range pools {
		np := harness.NodePool{Name: string(p.Role), Nodes: p.Nodes, CPU: p.Machine.CPU, MemoryGB: p.Machine.MemoryGB,
			Reserved: spec.Kind != tier.SinglePool}
		if p.Role != tier.General {
			np.Labels = map[string]string{kubeobjects.PoolLabel: string(p.Role)}
		}
		if p.Role == tier.ClickHouse {
			np.Taints = []string{kubeobjects.PoolTaint + "=" + string(tier.ClickHouse) + ":NoSchedule"}
		}
		out = append(out, np)
	}
	return out
}

// rigPath is PATH with the rig's plugins first: the Kubernetes provider
// tests/setup built and the stand-ins, which the engine finds there.
func rigPath(t *testing.T) string {
	harness.Servers(t)
	t.Helper()
	provider, standins := os.Getenv("NANO_KUBE_PROVIDER_BIN"), os.Getenv("NANO_STANDIN_PLUGINS")
	if provider == "" || standins == "" {
		t.Fatal("NANO_KUBE_PROVIDER_BIN and NANO_STANDIN_PLUGINS are not set: run the tests with tests/run")
	}
	return strings.Join([]string{provider, standins, os.Getenv("PATH")}, string(os.PathListSeparator))
}

// rigWorkspace is the engine workspace with rigPath as its PATH.
func rigWorkspace(t *testing.T, ctx context.Context) auto.Workspace {
	harness.Servers(t)
	t.Helper()
	ws := workspace(t, ctx)
	env := ws.GetEnvVars()
	env["PATH"] = rigPath(t)
	if err := ws.SetEnvVars(env); err != nil {
		t.Fatal(err)
	}
	return ws
}

// rigConfig is what a user of the existing-cluster target sets, here for
// the rig: its kubeconfig, operators preinstalled, the rig's ingress class,
// a domain (so api and search get their Ingress), and the keys a tier
// requires (warm bucket, Enterprise's databases).
func rigConfig(k *harness.Kube, spec tier.Spec) auto.ConfigMap {
	c := auto.ConfigMap{
		"nano:kubeconfig":    {Value: k.Kubeconfig, Secret: true},
		"nano:kubeOperators": {Value: "preinstalled"},
		"nano:ingressClass":  {Value: harness.RigIngressClass},
		"nano:domain":        {Value: "logs.rig.test"},
	}
	if spec.ClickHouse.WarmS3 {
		c["nano:warmBucketUrl"] = auto.ConfigValue{Value: "https://s3.rig.test/nano-warm/"}
		c["nano:warmAccessKeyId"] = auto.ConfigValue{Value: "rig-key", Secret: true}
		c["nano:warmSecretAccessKey"] = auto.ConfigValue{Value: "rig-secret", Secret: true}
	}
	if spec.Kind == tier.Managed {
		c["nano:clickhouseCloudHost"] = auto.ConfigValue{Value: "ch.rig.test"}
		c["nano:clickhouseCloudPassword"] = auto.ConfigValue{Value: "rig-ch-password", Secret: true}
		c["nano:postgresUri"] = auto.ConfigValue{Value: "postgres://nano:rig-pg-password@pg.rig.test:5432/nano?sslmode=verify-full", Secret: true}
	}
	return c
}

// rigDailyVolumeGB is Enterprise's volume on the rig: the first band.
const rigDailyVolumeGB = 100

func TestKubernetesTiersOnTheRig(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	k := startRig(t)
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		t.Run(string(name), func(t *testing.T) { rigTier(t, k, name) })
	}
}

// rigTier deploys one tier, checks placement, rolls an image update,
// previews (no changes) and destroys (nothing left).
func rigTier(t *testing.T, k *harness.Kube, name tier.Name) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	spec, _ := tier.Lookup(name)
	var band tier.VolumeBand
	if spec.Kind == tier.Managed {
		var err error
		if band, err = spec.BandFor(rigDailyVolumeGB); err != nil {
			t.Fatal(err)
		}
	}
	pools := rigPools(spec, band)
	if err := k.AddNodes(ctx, pools...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.RemoveNodes(context.Background()); err != nil {
			t.Errorf("cannot remove the rig's nodes: %v", err)
		}
	})
	ws := rigWorkspace(t, ctx)
	stack, err := auto.UpsertStack(ctx, string(name)+"-kubernetes", ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := stack.SetAllConfig(ctx, rigConfig(k, spec)); err != nil {
		t.Fatal(err)
	}
	if spec.Name == tier.Team {
		// Single sign-on configured (never contacted: the api discovers
		// the provider at the first sign-in; the flow runs against Hydra
		// in the browser test). The roles are a list: set by path, as
		// `pulumi config set --path 'nano:oidcRoles[0]' ...` does.
		if err := stack.SetAllConfig(ctx, auto.ConfigMap{
			"nano:" + settings.KeyOIDCIssuer:       {Value: "https://idp.rig.test/realms/nano"},
			"nano:" + settings.KeyOIDCClientID:     {Value: "nano-rig"},
			"nano:" + settings.KeyOIDCClientSecret: {Value: "rig-oidc-secret", Secret: true},
		}); err != nil {
			t.Fatal(err)
		}
		if err := stack.SetConfigWithOptions(ctx, "nano:"+settings.KeyOIDCRoles+"[0]", auto.ConfigValue{Value: "soc-admins=default:admin"}, &auto.ConfigOptions{Path: true}); err != nil {
			t.Fatal(err)
		}
	}
	if spec.Kind == tier.Managed {
		if err := stack.SetConfig(ctx, "nano:dailyVolumeGB", auto.ConfigValue{Value: fmt.Sprint(rigDailyVolumeGB)}); err != nil {
			t.Fatal(err)
		}
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_ = unprotectAndDestroy(context.Background(), stack)
		}
	})

	start := time.Now()
	up, err := stack.Up(ctx)
	if err != nil {
		t.Fatalf("up on the rig failed: %v\n%s\n%s", lastLines(err.Error(), 40), pendingReasons(ctx, k), k.Logs())
	}
	applied := kubeResources(t, ctx, stack)
	pods := checkPlacement(t, ctx, k, spec, pools, "")
	t.Logf("%s: up in %s, %d Kubernetes objects applied, %d pods scheduled (%s)", name, time.Since(start).Round(time.Second),
		applied, len(pods), summary(pods))
	checkAlertingOnRig(t, ctx, k)
	if up.Outputs["apiUrl"].Value != "https://logs.rig.test/api" {
		t.Errorf("apiUrl is %v, want https://logs.rig.test/api", up.Outputs["apiUrl"].Value)
	}
	if got := fmt.Sprint(up.Outputs["ingestHttpUrl"].Value); got != "https://"+harness.RigLoadBalancerIP+":8080" {
		t.Errorf("ingestHttpUrl is %s: it should name the load balancer's address", got)
	}
	checkSignInOnRig(t, ctx, k, spec, up.Outputs)
	rigRefusals(t, ctx, k)
	rigLogins(t, ctx, k, spec)
	checkHTTPSIngress(t, ctx, k)

	if spec.Kind == tier.Managed {
		// Roll once the autoscaler has ingest at its minimum, which fills
		// the ingest pool: the case where a surge pod has no room.
		waitAutoscaled(t, ctx, k, "ingest")
	}

	// A rolling update: new image tags for every service.
	start = time.Now()
	for _, key := range []string{"apiImage", "searchImage", "ingestImage", "webImage"} {
		svc := strings.TrimSuffix(key, "Image")
		if err := stack.SetConfig(ctx, "nano:"+key, auto.ConfigValue{Value: "ghcr.io/nanosiem/" + svc + ":0.1.1-rig"}); err != nil {
			t.Fatal(err)
		}
	}
	// A rollout that cannot end (a surge pod with no room) holds up until
	// the provider's await gives up; the test gives up sooner.
	rollCtx, rollCancel := context.WithTimeout(ctx, 4*time.Minute)
	defer rollCancel()
	if _, err := stack.Up(rollCtx, optup.Refresh()); err != nil {
		t.Fatalf("the rolling update failed: %v\n%s", lastLines(err.Error(), 40), pendingReasons(ctx, k))
	}
	waitOldPodsGone(t, ctx, k, ":0.1.1-rig")
	pods = checkPlacement(t, ctx, k, spec, pools, ":0.1.1-rig")
	t.Logf("%s: rolling update of api, search and ingest in %s, %d pods on the new images", name, time.Since(start).Round(time.Second), len(pods))

	if name == tier.Team {
		tierGuardRefuses(t, ctx, stack, tier.Business)
	}

	pre, err := stack.Preview(ctx, optpreview.Diff())
	if err != nil {
		t.Fatalf("second preview failed: %v", err)
	}
	for op, n := range pre.ChangeSummary {
		if op != apitype.OpSame && n > 0 {
			t.Errorf("a preview after up plans %d %s: the deployment does not converge\n%s", n, op, lastLines(pre.StdOut, 60))
		}
	}

	// nano:protectData (default true) stops a destroy before it deletes
	// anything; docs/getting-started.md's way to destroy on purpose lifts it first.
	if _, err := stack.PreviewDestroy(ctx); err == nil || !strings.Contains(err.Error(), "because it is protected") {
		t.Errorf("a destroy of protected data previews without the refusal: %v", lastLines(fmt.Sprint(err), 30))
	}
	start = time.Now()
	if err := unprotectAndDestroy(ctx, stack); err != nil {
		t.Fatalf("destroy failed: %v", lastLines(err.Error(), 40))
	}
	destroyed = true
	if left := leftovers(ctx, k); len(left) > 0 {
		t.Errorf("destroy left nano objects behind: %v", left)
	}
	t.Logf("%s: destroyed in %s, nothing left", name, time.Since(start).Round(time.Second))
}

// tierGuardRefuses changes the stack's tier to other (whose config is the
// same) and runs up: the engine must refuse at the tier guard, before it
// changes anything (the convergence preview after it shows no change).
func tierGuardRefuses(t *testing.T, ctx context.Context, stack auto.Stack, other tier.Name) {
	t.Helper()
	was, err := stack.GetConfig(ctx, "nano:tier")
	if err != nil {
		t.Fatal(err)
	}
	if err := stack.SetConfig(ctx, "nano:tier", auto.ConfigValue{Value: string(other)}); err != nil {
		t.Fatal(err)
	}
	_, err = stack.Up(ctx)
	if err == nil || !strings.Contains(err.Error(), program.TierGuardSuffix) || !strings.Contains(err.Error(), "unable to replace") {
		t.Errorf("up with nano:tier %s over %s: %v; want the tier guard's refusal", other, was.Value, err)
	} else {
		t.Logf("nano:tier %s -> %s refused: %s", was.Value, other, firstLine(err.Error(), "unable to replace"))
	}
	if err := stack.SetConfig(ctx, "nano:tier", was); err != nil {
		t.Fatal(err)
	}
}

// firstLine is the first line of s holding sub.
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// unprotectAndDestroy destroys the stack as docs/getting-started.md says to on purpose:
// nano:protectData false, up (which lifts the protection), destroy.
func unprotectAndDestroy(ctx context.Context, stack auto.Stack) error {
	if err := stack.SetConfig(ctx, "nano:protectData", auto.ConfigValue{Value: "false"}); err != nil {
		return err
	}
	if _, err := stack.Up(ctx); err != nil {
		return fmt.Errorf("up with nano:protectData false: %w", err)
	}
	_, err := stack.Destroy(ctx, optdestroy.Remove())
	return err
}

// waitAutoscaled waits until the autoscaler has raised a Deployment to its
// minimum and every replica is ready.
func waitAutoscaled(t *testing.T, ctx context.Context, k *harness.Kube, name string) {
	harness.Servers(t)
	t.Helper()
	ns := "/namespaces/" + kubeobjects.Namespace
	var hpa struct {
		Spec struct {
			MinReplicas int `json:"minReplicas"`
		} `json:"spec"`
	}
	if err := k.Get(ctx, "/apis/autoscaling/v2"+ns+"/horizontalpodautoscalers/"+name, &hpa); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Spec   struct{ Replicas int } `json:"spec"`
		Status struct {
			ReadyReplicas int `json:"readyReplicas"`
		} `json:"status"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := k.Get(ctx, "/apis/apps/v1"+ns+"/deployments/"+name, &d); err != nil {
			t.Fatal(err)
		}
		if d.Spec.Replicas >= hpa.Spec.MinReplicas && d.Status.ReadyReplicas == d.Spec.Replicas {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the autoscaler did not bring %s to %d ready replicas: %+v\n%s", name, hpa.Spec.MinReplicas, d, pendingReasons(ctx, k))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// rigPod is what the placement checks read of a pod.
type rigPod struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		NodeName   string `json:"nodeName"`
		Containers []struct {
			Image string `json:"image"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		Conditions []struct {
			Type, Status, Reason, Message string
		} `json:"conditions"`
	} `json:"status"`
}

func (p rigPod) app() string { return p.Metadata.Labels["app.kubernetes.io/name"] }

// checkPlacement checks every pod of nano's Deployments: scheduled (else
// the scheduler's reason), on a node of its pool, spread over nodes as the
// tier requires; with imageSuffix, on the new images only (the old
// ReplicaSets' pods gone).
func checkPlacement(t *testing.T, ctx context.Context, k *harness.Kube, spec tier.Spec, pools []harness.NodePool, imageSuffix string) []rigPod {
	harness.Servers(t)
	t.Helper()
	var pods struct{ Items []rigPod }
	if err := k.Get(ctx, "/api/v1/namespaces/"+kubeobjects.Namespace+"/pods", &pods); err != nil {
		t.Fatal(err)
	}
	nodePool := map[string]harness.NodePool{}
	for _, p := range pools {
		for i := 0; i < p.Nodes; i++ {
			nodePool[fmt.Sprintf("%s-%d", p.Name, i)] = p
		}
	}
	var deps struct {
		Items []struct {
			Metadata struct{ Name string }  `json:"metadata"`
			Spec     struct{ Replicas int } `json:"spec"`
		}
	}
	if err := k.Get(ctx, "/apis/apps/v1/namespaces/"+kubeobjects.Namespace+"/deployments", &deps); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, d := range deps.Items {
		want[d.Metadata.Name] = d.Spec.Replicas
	}
	for _, svc := range []string{"api", "search", "web", "ingest", "prometheus"} {
		if _, ok := want[svc]; !ok {
			t.Errorf("no %s Deployment on the rig", svc)
		}
	}
	// Alertmanager is a StatefulSet: one, or a cluster of 2-3 on HA tiers.
	var sets struct {
		Items []struct {
			Metadata struct{ Name string }  `json:"metadata"`
			Spec     struct{ Replicas int } `json:"spec"`
		}
	}
	if err := k.Get(ctx, "/apis/apps/v1/namespaces/"+kubeobjects.Namespace+"/statefulsets", &sets); err != nil {
		t.Fatal(err)
	}
	for _, s := range sets.Items {
		want[s.Metadata.Name] = s.Spec.Replicas
	}
	if n, ok := want["alertmanager"]; !ok || (spec.HA && (n < 2 || n > 3)) || (!spec.HA && n != 1) {
		t.Errorf("Alertmanager on the rig: %d replicas (found %v), want 1, or 2-3 on an HA tier", n, ok)
	}
	perApp := map[string][]string{}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" {
			t.Errorf("pod %s is not scheduled: %s", p.Metadata.Name, scheduleReason(p))
			continue
		}
		if p.Status.Phase != "Running" {
			t.Errorf("pod %s on %s is %s", p.Metadata.Name, p.Spec.NodeName, p.Status.Phase)
		}
		perApp[p.app()] = append(perApp[p.app()], p.Spec.NodeName)
		if imageSuffix != "" && !thirdParty(p.app()) && !strings.HasSuffix(p.Spec.Containers[0].Image, imageSuffix) {
			t.Errorf("pod %s still runs %s after the rolling update", p.Metadata.Name, p.Spec.Containers[0].Image)
		}
		if pool, wantPool := nodePool[p.Spec.NodeName].Labels[kubeobjects.PoolLabel], expectedPool(spec, p.app()); pool != wantPool {
			t.Errorf("pod %s is on node %s of pool %q, want pool %q", p.Metadata.Name, p.Spec.NodeName, pool, wantPool)
		}
	}
	for app, replicas := range want {
		nodes := perApp[app]
		if len(nodes) != replicas {
			t.Errorf("%s: %d pods for %d replicas (%v)", app, len(nodes), replicas, nodes)
		}
		if spec.HA && app != "prometheus" {
			checkSpread(t, app, nodes, nodePool, expectedPool(spec, app))
		}
	}
	if err := k.AgentErr(); err != nil {
		t.Errorf("the rig's node agent failed: %v", err)
	}
	return pods.Items
}

// thirdParty are the apps whose images are not nano's (no rolling update
// of nano's images changes them).
func thirdParty(app string) bool { return app == "prometheus" || app == "alertmanager" }

// expectedPool is the pool label value a service's pods must run on ("" on
// tiers without dedicated pools).
func expectedPool(spec tier.Spec, app string) string {
	if _, ok := spec.Pool(tier.App); !ok && spec.Kind != tier.Managed {
		return ""
	}
	if app == "ingest" {
		return string(tier.Ingest)
	}
	return string(tier.App)
}

// checkSpread: an HA service's pods are on distinct nodes of their pool
// while it has enough nodes, and at most one apart per node otherwise.
func checkSpread(t *testing.T, app string, nodes []string, nodePool map[string]harness.NodePool, pool string) {
	t.Helper()
	count := map[string]int{}
	for n := range nodePool {
		if nodePool[n].Labels[kubeobjects.PoolLabel] == pool {
			count[n] = 0
		}
	}
	for _, n := range nodes {
		count[n]++
	}
	lo, hi := len(nodes), 0
	for _, c := range count {
		lo, hi = min(lo, c), max(hi, c)
	}
	if hi-lo > 1 {
		t.Errorf("%s is spread unevenly over its pool's nodes: %v", app, count)
	}
}

// waitOldPodsGone waits (at most a minute) until no pod runs an image
// without imageSuffix: a rollout is complete once the new ReplicaSet is
// available, while the old one's last pods may still be terminating (a
// kubelet, here the rig's node agent, removes them on its next round).
// checkPlacement then reports any that stayed.
func waitOldPodsGone(t *testing.T, ctx context.Context, k *harness.Kube, imageSuffix string) {
	harness.Servers(t)
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var pods struct{ Items []rigPod }
		if err := k.Get(ctx, "/api/v1/namespaces/"+kubeobjects.Namespace+"/pods", &pods); err != nil {
			t.Fatal(err)
		}
		old := 0
		for _, p := range pods.Items {
			if !thirdParty(p.app()) && !strings.HasSuffix(p.Spec.Containers[0].Image, imageSuffix) {
				old++
			}
		}
		if old == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func scheduleReason(p rigPod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == "PodScheduled" {
			return c.Reason + ": " + c.Message
		}
	}
	return "no PodScheduled condition (the scheduler has not seen it)"
}

// pendingReasons lists the unscheduled pods of the namespace with the
// scheduler's reasons, for a failed up's report.
func pendingReasons(ctx context.Context, k *harness.Kube) string {
	var pods struct{ Items []rigPod }
	if err := k.Get(ctx, "/api/v1/namespaces/"+kubeobjects.Namespace+"/pods", &pods); err != nil {
		return "cannot list pods: " + err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" {
			fmt.Fprintf(&b, "pending pod %s: %s\n", p.Metadata.Name, scheduleReason(p))
		}
	}
	return b.String()
}

func summary(pods []rigPod) string {
	n := map[string]int{}
	for _, p := range pods {
		n[p.app()]++
	}
	var out []string
	for app, c := range n {
		out = append(out, fmt.Sprintf("%s %d", app, c))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// kubeResources counts the Kubernetes objects in the stack's state.
func kubeResources(t *testing.T, ctx context.Context, stack auto.Stack) int {
	t.Helper()
	dep, err := stack.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, typ := range resourceTypes(t, string(dep.Deployment)) {
		if strings.HasPrefix(typ, "kubernetes:") && typ != "pulumi:providers:kubernetes" {
			n++
		}
	}
	return n
}

// rigRefusals: the rig refuses what a real cluster refuses, so the tests
// above can fail: a privileged pod in nano's namespace (Pod Security
// "restricted" admission) and a ClickHouseInstallation whose shardsCount
// is a string (the CRD's schema).
func rigRefusals(t *testing.T, ctx context.Context, k *harness.Kube) {
	harness.Servers(t)
	t.Helper()
	ns := kubeobjects.Namespace
	err := k.Create(ctx, "/api/v1/namespaces/"+ns+"/pods", harness.Object{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "rig-privileged"},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox:1.36",
			"securityContext": map[string]any{"privileged": true}}}},
	})
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("a privileged pod in namespace %s was not refused by Pod Security: %v", ns, err)
	}
	err = k.Create(ctx, "/apis/clickhouse.altinity.com/v1/namespaces/"+ns+"/clickhouseinstallations", harness.Object{
		"apiVersion": "clickhouse.altinity.com/v1", "kind": "ClickHouseInstallation", "metadata": map[string]any{"name": "rig-bad"},
		"spec": map[string]any{"configuration": map[string]any{"clusters": []any{map[string]any{
			"name": "c", "layout": map[string]any{"shardsCount": "two"}}}}},
	})
	if err == nil || !strings.Contains(err.Error(), "shardsCount") {
		t.Errorf("a ClickHouseInstallation with shardsCount \"two\" was not refused by its CRD schema: %v", err)
	}
}

// leftovers are nano's objects still on the rig after destroy: its
// namespace and cluster-scoped objects labeled part-of nano.
func leftovers(ctx context.Context, k *harness.Kube) []string {
	var left []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left = left[:0]
		if err := k.Get(ctx, "/api/v1/namespaces/"+kubeobjects.Namespace, nil); !harness.IsNotFound(err) {
			left = append(left, "namespace "+kubeobjects.Namespace)
		}
		for _, path := range []string{"/apis/cert-manager.io/v1/clusterissuers", "/api/v1/persistentvolumes"} {
			var l harness.List
			if err := k.Get(ctx, path, &l); err != nil {
				left = append(left, path+": "+err.Error())
				continue
			}
			for _, o := range l.Items {
				left = append(left, path+"/"+fmt.Sprint(o["metadata"].(map[string]any)["name"]))
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return slices.Clone(left)
		}
		time.Sleep(time.Second)
	}
}

// rigLogins: on the API server, ingest's and search's logins are Secrets
// of their own (PostgreSQL's basic-auth with the role's URI, ClickHouse's
// with the user), generated per deployment (the two roles' passwords
// differ), mounted by their service only; CloudNativePG's Cluster declares
// the roles with those Secrets and the ClickHouseInstallation the users.
func rigLogins(t *testing.T, ctx context.Context, k *harness.Kube, spec tier.Spec) {
	harness.Servers(t)
	t.Helper()
	ns := "/api/v1/namespaces/" + kubeobjects.Namespace
	type secret struct {
		Type string            `json:"type"`
		Data map[string][]byte `json:"data"`
	}
	passwords := map[string]bool{}
	for _, l := range []struct{ role, pg, ch string }{
		{contract.IngestDBUser, kubeobjects.SecretPostgresIngest, kubeobjects.SecretClickHouseIngest},
		{contract.SearchDBUser, kubeobjects.SecretPostgresSearch, kubeobjects.SecretClickHouseSearch},
	} {
		var pg, ch secret
		if err := k.Get(ctx, ns+"/secrets/"+l.pg, &pg); err != nil {
			t.Fatal(err)
		}
		if err := k.Get(ctx, ns+"/secrets/"+l.ch, &ch); err != nil {
			t.Fatal(err)
		}
		host := "@nano-pg-rw.nano:5432/nano"
		if spec.Postgres.Managed {
			host = "@pg.rig.test:5432/nano?sslmode=verify-full"
		}
		if pg.Type != "kubernetes.io/basic-auth" || string(pg.Data["username"]) != l.role || len(pg.Data["password"]) != 32 ||
			string(pg.Data["uri"]) != "postgresql://"+l.role+":"+string(pg.Data["password"])+host && string(pg.Data["uri"]) != "postgres://"+l.role+":"+string(pg.Data["password"])+host {
			t.Errorf("Secret %s: %s %s %s", l.pg, pg.Type, pg.Data["username"], strings.ReplaceAll(string(pg.Data["uri"]), string(pg.Data["password"]), "<password>"))
		}
		if string(ch.Data["username"]) != l.role || len(ch.Data["password"]) != 32 {
			t.Errorf("Secret %s: user %s, a %d-character password", l.ch, ch.Data["username"], len(ch.Data["password"]))
		}
		passwords[string(pg.Data["password"])], passwords[string(ch.Data["password"])] = true, true
	}
	if len(passwords) != 4 {
		t.Errorf("ingest's and search's four passwords are not four different ones")
	}
	if spec.Postgres.Operator {
		var cluster struct {
			Spec struct {
				Managed struct {
					Roles []struct {
						Name           string `json:"name"`
						PasswordSecret struct {
							Name string `json:"name"`
						} `json:"passwordSecret"`
					} `json:"roles"`
				} `json:"managed"`
			} `json:"spec"`
		}
		if err := k.Get(ctx, "/apis/postgresql.cnpg.io/v1/namespaces/"+kubeobjects.Namespace+"/clusters/nano-pg", &cluster); err != nil {
			t.Fatal(err)
		}
		if r := cluster.Spec.Managed.Roles; len(r) != 2 || r[0].Name != contract.IngestDBUser || r[0].PasswordSecret.Name != kubeobjects.SecretPostgresIngest ||
			r[1].Name != contract.SearchDBUser || r[1].PasswordSecret.Name != kubeobjects.SecretPostgresSearch {
			t.Errorf("the Cluster's managed roles: %+v", r)
		}
	}
	var deps struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Spec     struct {
				Template struct {
					Spec struct {
						Volumes []struct {
							Secret *struct {
								SecretName string `json:"secretName"`
							} `json:"secret"`
						} `json:"volumes"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
	}
	if err := k.Get(ctx, "/apis/apps/v1/namespaces/"+kubeobjects.Namespace+"/deployments", &deps); err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{kubeobjects.SecretPostgresIngest: "ingest", kubeobjects.SecretClickHouseIngest: "ingest",
		kubeobjects.SecretPostgresSearch: "search", kubeobjects.SecretClickHouseSearch: "search"}
	for _, d := range deps.Items {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil && owner[v.Secret.SecretName] != "" && owner[v.Secret.SecretName] != d.Metadata.Name {
				t.Errorf("Deployment %s mounts %s's login %s", d.Metadata.Name, owner[v.Secret.SecretName], v.Secret.SecretName)
			}
		}
	}
}

// checkHTTPSIngress reads back from the API server what the platform
// applied for HTTPS: the Ingress of api, search and the UI only on
// Traefik's websecure entrypoint, with TLS and the HSTS middleware; an
// Ingress of the web entrypoint for the same rules whose only middleware
// redirects to HTTPS; and the two Middlewares as Traefik reads them.
func checkHTTPSIngress(t *testing.T, ctx context.Context, k *harness.Kube) {
	harness.Servers(t)
	t.Helper()
	type ingress struct {
		Metadata struct{ Annotations map[string]string } `json:"metadata"`
		Spec     struct {
			IngressClassName string `json:"ingressClassName"`
			TLS              []any  `json:"tls"`
			Rules            []any  `json:"rules"`
		} `json:"spec"`
	}
	var https, http ingress
	for name, into := range map[string]*ingress{"nano": &https, kubeobjects.HTTPIngress: &http} {
		if err := k.Get(ctx, "/apis/networking.k8s.io/v1/namespaces/"+kubeobjects.Namespace+"/ingresses/"+name, into); err != nil {
			t.Fatalf("Ingress %s: %v", name, err)
		}
	}
	a := https.Metadata.Annotations
	if a["traefik.ingress.kubernetes.io/router.entrypoints"] != "websecure" || a["traefik.ingress.kubernetes.io/router.tls"] != "true" ||
		a["traefik.ingress.kubernetes.io/router.middlewares"] != kubeobjects.TraefikMiddleware(kubeobjects.MiddlewareHSTS) || len(https.Spec.TLS) == 0 {
		t.Errorf("the HTTPS Ingress on the rig: annotations %v, tls %v", a, https.Spec.TLS)
	}
	a = http.Metadata.Annotations
	if a["traefik.ingress.kubernetes.io/router.entrypoints"] != "web" || a["traefik.ingress.kubernetes.io/router.middlewares"] != kubeobjects.TraefikMiddleware(kubeobjects.MiddlewareRedirect) ||
		len(http.Spec.TLS) != 0 || fmt.Sprint(http.Spec.Rules) != fmt.Sprint(https.Spec.Rules) {
		t.Errorf("the HTTP Ingress on the rig: annotations %v, rules %v (HTTPS: %v)", a, http.Spec.Rules, https.Spec.Rules)
	}
	var hsts, redirect struct {
		Spec struct {
			Headers struct {
				STSSeconds     int  `json:"stsSeconds"`
				ForceSTSHeader bool `json:"forceSTSHeader"`
			} `json:"headers"`
			RedirectScheme struct {
				Scheme    string `json:"scheme"`
				Permanent bool   `json:"permanent"`
			} `json:"redirectScheme"`
		} `json:"spec"`
	}
	mw := "/apis/traefik.io/v1alpha1/namespaces/" + kubeobjects.Namespace + "/middlewares/"
	if err := k.Get(ctx, mw+kubeobjects.MiddlewareHSTS, &hsts); err != nil || hsts.Spec.Headers.STSSeconds < 31536000 || !hsts.Spec.Headers.ForceSTSHeader {
		t.Errorf("the HSTS Middleware on the rig: %+v %v", hsts.Spec.Headers, err)
	}
	if err := k.Get(ctx, mw+kubeobjects.MiddlewareRedirect, &redirect); err != nil || redirect.Spec.RedirectScheme.Scheme != "https" || !redirect.Spec.RedirectScheme.Permanent {
		t.Errorf("the redirect Middleware on the rig: %+v %v", redirect.Spec.RedirectScheme, err)
	}
}

// checkAlertingOnRig: Prometheus's configuration names every
// Alertmanager member (by its stable name), the api posts to the same
// ones, and Alertmanager's configuration is the Secret the program wrote
// (nano's default here: nano:alertmanagerConfig is unset on the rig).
func checkAlertingOnRig(t *testing.T, ctx context.Context, k *harness.Kube) {
	harness.Servers(t)
	t.Helper()
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := k.Get(ctx, "/api/v1/namespaces/"+kubeobjects.Namespace+"/configmaps/prometheus", &cm); err != nil {
		t.Fatal(err)
	}
	var set struct {
		Spec struct{ Replicas int } `json:"spec"`
	}
	if err := k.Get(ctx, "/apis/apps/v1/namespaces/"+kubeobjects.Namespace+"/statefulsets/alertmanager", &set); err != nil {
		t.Fatal(err)
	}
	urls := apiEnv(t, ctx, k)[contract.AlertmanagerURLs]
	for i := range set.Spec.Replicas {
		member := fmt.Sprintf("alertmanager-%d.alertmanager-cluster.%s.svc:%d", i, kubeobjects.Namespace, contract.AlertmanagerPort)
		if !strings.Contains(cm.Data["prometheus.yml"], member) {
			t.Errorf("Prometheus's configuration does not name %s:\n%s", member, cm.Data["prometheus.yml"])
		}
		if !strings.Contains(urls, "http://"+member) {
			t.Errorf("the api does not post to %s: %s", member, urls)
		}
	}
	var secret struct {
		Data map[string]string `json:"data"`
	}
	if err := k.Get(ctx, "/api/v1/namespaces/"+kubeobjects.Namespace+"/secrets/"+kubeobjects.SecretAlertmanager, &secret); err != nil {
		t.Fatal(err)
	}
	cfg, _ := base64.StdEncoding.DecodeString(secret.Data[kubeobjects.AlertmanagerConfigKey])
	if string(cfg) != amconfig.Unconfigured {
		t.Errorf("Alertmanager's Secret holds %q, want nano's default", cfg)
	}
}

// checkSignInOnRig: where the stack configures single sign-on (Team), the
// stack exports the redirect URL to register at the provider, the api's
// environment names the provider and that URL, and the client secret is
// in the api's own Secret, not its environment; elsewhere none of it.
func checkSignInOnRig(t *testing.T, ctx context.Context, k *harness.Kube, spec tier.Spec, outputs auto.OutputMap) {
	t.Helper()
	const redirect = "https://logs.rig.test/api/v1/auth/callback"
	configured := spec.Name == tier.Team
	out, exported := outputs["oidcRedirectUrl"]
	switch {
	case configured && (!exported || out.Value != redirect):
		t.Errorf("oidcRedirectUrl is %v (exported: %v), want %s", out.Value, exported, redirect)
	case !configured && exported:
		t.Errorf("oidcRedirectUrl exported without single sign-on: %v", out.Value)
	}
	env := apiEnv(t, ctx, k)
	var secret struct {
		Data map[string]string `json:"data"`
	}
	err := k.Get(ctx, "/api/v1/namespaces/"+kubeobjects.Namespace+"/secrets/"+kubeobjects.SecretOIDC, &secret)
	if !configured {
		if env[contract.OIDCIssuer] != "" || err == nil {
			t.Errorf("single sign-on deployed where the stack does not configure it: issuer %q, Secret read error %v", env[contract.OIDCIssuer], err)
		}
		return
	}
	if env[contract.OIDCIssuer] != "https://idp.rig.test/realms/nano" || env[contract.OIDCRedirectURL] != redirect || env[contract.OIDCClientSecretFile] == "" {
		t.Errorf("the api's sign-in environment: issuer %q, redirect %q, secret file %q", env[contract.OIDCIssuer], env[contract.OIDCRedirectURL], env[contract.OIDCClientSecretFile])
	}
	for name, v := range env {
		if strings.Contains(v, "rig-oidc-secret") {
			t.Errorf("the api's environment holds the client secret in %s", name)
		}
	}
	if err != nil {
		t.Fatalf("the api's sign-in Secret: %v", err)
	}
	if got, _ := base64.StdEncoding.DecodeString(secret.Data[kubeobjects.OIDCKeyClientSecret]); string(got) != "rig-oidc-secret" {
		t.Errorf("Secret %s holds %q under %s", kubeobjects.SecretOIDC, got, kubeobjects.OIDCKeyClientSecret)
	}
}

// apiEnv is the api Deployment's environment as applied on the rig (its
// literal values).
func apiEnv(t *testing.T, ctx context.Context, k *harness.Kube) map[string]string {
	t.Helper()
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct{ Name, Value string } `json:"env"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := k.Get(ctx, "/apis/apps/v1/namespaces/"+kubeobjects.Namespace+"/deployments/api", &dep); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	return env
}
