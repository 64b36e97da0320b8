package program

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/stacks/program/mockmonitor"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

// Resource is one registered resource.
type Resource = mockmonitor.Resource

// Result is what a plan recorded.
type Result struct {
	Stack     string
	Settings  settings.Settings
	Resources []mockmonitor.Resource
	Elapsed   time.Duration
	// OfflineSecrets are the required secrets the plan stood placeholders in
	// for; `pulumi up` needs them set.
	OfflineSecrets []string
	// UnreadSecrets are optional secrets set in the stack file (encrypted)
	// that the plan could not read: planned as unset, not checked.
	UnreadSecrets []string
}

// ByType returns the recorded resources of a type token.
func (r *Result) ByType(typ string) []mockmonitor.Resource {
	var out []mockmonitor.Resource
	for _, res := range r.Resources {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	return out
}

// Counts returns the number of resources per type token.
func (r *Result) Counts() map[string]int {
	m := map[string]int{}
	for _, res := range r.Resources {
		m[res.Type]++
	}
	return m
}

// Plan plans stack of the project in dir.
func Plan(dir, stack string) (*Result, error) { return PlanWithSecrets(dir, stack, nil) }

// PlanWithSecrets plans stack with secrets given here (keys without the
// namespace, e.g. alertmanagerConfig) in place of the stack file's
// encrypted values, which a plan cannot read: their checks run offline.
func PlanWithSecrets(dir, stack string, secrets map[string]string) (*Result, error) {
	start := time.Now()
	proj, cfg, err := stackfile.Load(dir, stack)
	if err != nil {
		return nil, err
	}
	if len(secrets) > 0 {
		cfg.Values = maps.Clone(cfg.Values)
		for k, v := range secrets {
			full := settings.Namespace + ":" + k
			if !slices.ContainsFunc(settings.Keys, func(key settings.Key) bool { return key.Name == k && key.Secret }) {
				return nil, fmt.Errorf("%s is not a secret key of the program", full)
			}
			cfg.Values[full] = v
			if !slices.Contains(cfg.Secrets, full) {
				cfg.Secrets = append(slices.Clone(cfg.Secrets), full)
			}
		}
	}
	res, err := PlanConfig(proj.Name, stack, cfg)
	if err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// PlanConfig plans stack of project with a resolved config.
func PlanConfig(project, stack string, cfg stackfile.Config) (*Result, error) {
	res := &Result{Stack: stack}
	get, filled := settings.WithOfflineSecrets(func(k string) string { return cfg.Values[settings.Namespace+":"+k] })
	for _, full := range cfg.Secrets {
		k, ok := strings.CutPrefix(full, settings.Namespace+":")
		if ok && cfg.Values[full] == "" && !slices.Contains(filled, k) {
			res.UnreadSecrets = append(res.UnreadSecrets, full)
		}
	}
	if len(filled) > 0 {
		values := maps.Clone(cfg.Values)
		for _, k := range filled {
			full := settings.Namespace + ":" + k
			values[full] = get(k)
			if !slices.Contains(cfg.Secrets, full) {
				cfg.Secrets = append(slices.Clone(cfg.Secrets), full)
			}
			res.OfflineSecrets = append(res.OfflineSecrets, full)
		}
		cfg.Values = values
	}
	var err error
	res.Settings, err = settings.Load(stack, get)
	if err != nil {
		return nil, err
	}
	if s := res.Settings; s.Tier.Kind == tier.SinglePool && s.Provider == tier.Hetzner && cfg.Values[HcloudTokenKey] == "" {
		// Growth's cluster keeps the deployment's own hcloud:token, which a
		// stack file never holds: a placeholder, as for nano's secrets.
		values := map[string]string{}
		maps.Copy(values, cfg.Values)
		cfg.Values = values
		cfg.Values[HcloudTokenKey] = settings.OfflineSecret
		cfg.Secrets = append(slices.Clone(cfg.Secrets), HcloudTokenKey)
		res.OfflineSecrets = append(res.OfflineSecrets, HcloudTokenKey)
	}
	mocks := &mockmonitor.Recorder{}
	if err := PlanWith(project, stack, cfg, mocks); err != nil {
		return nil, err
	}
	res.Resources = mocks.Resources()
	return res, nil
}

// PlanWith runs the program against mocks with a resolved config.
func PlanWith(project, stack string, cfg stackfile.Config, mocks *mockmonitor.Recorder) error {
	err := pulumi.RunErr(Run, pulumi.WithMocks(project, stack, mocks), func(info *pulumi.RunInfo) {
		info.Config = cfg.Values
		info.ConfigSecretKeys = cfg.Secrets
	})
	if err != nil {
		return fmt.Errorf("cannot plan stack %q: %w", stack, err)
	}
	return nil
}

// WriteTree prints the resources as a tree under the stack.
func (r *Result) WriteTree(w io.Writer) {
	key := func(typ, name string) string { return typ + "\x00" + name }
	children := map[string][]mockmonitor.Resource{}
	stack := mockmonitor.Resource{Type: stackType}
	for _, res := range r.Resources {
		if res.ParentType == stackType {
			stack.Name = res.ParentName
		}
		k := key(res.ParentType, res.ParentName)
		children[k] = append(children[k], res)
	}
	var walk func(res mockmonitor.Resource, prefix string)
	walk = func(res mockmonitor.Resource, prefix string) {
		// Registration order varies between runs; print in a stable order.
		kids := children[key(res.Type, res.Name)]
		sort.Slice(kids, func(i, j int) bool { return kids[i].Type+kids[i].Name < kids[j].Type+kids[j].Name })
		for i, k := range kids {
			branch, next := "├─ ", "│  "
			if i == len(kids)-1 {
				branch, next = "└─ ", "   "
			}
			fmt.Fprintf(w, "%s%s%s  %s\n", prefix, branch, k.Type, k.Name)
			walk(k, prefix+next)
		}
	}
	fmt.Fprintf(w, "%s  %s\n", stack.Type, stack.Name)
	walk(stack, "")
}

// stackType is the type of the root resource, which the mock monitor does
// not pass to the recorder.
const stackType = "pulumi:pulumi:Stack"

// replicas says how many pods of each service the plan runs: the planned
// Deployments' counts (an autoscaler's range where one owns it), or the
// tier's on a Compose host.
func (r *Result) replicas() string {
	planned := map[string]string{}
	for _, d := range r.ByType("kubernetes:apps/v1:Deployment") {
		spec := d.Inputs["spec"]
		if !spec.IsObject() {
			continue
		}
		if n := spec.ObjectValue()["replicas"]; n.IsNumber() {
			planned[name(d)] = fmt.Sprint(n.NumberValue())
		}
	}
	for _, h := range r.ByType("kubernetes:autoscaling/v2:HorizontalPodAutoscaler") {
		spec := h.Inputs["spec"]
		if !spec.IsObject() {
			continue
		}
		o := spec.ObjectValue()
		target := o["scaleTargetRef"]
		if target.IsObject() && o["minReplicas"].IsNumber() && o["maxReplicas"].IsNumber() {
			planned[target.ObjectValue()["name"].StringValue()] = fmt.Sprintf("%v-%v (autoscaled on CPU)", o["minReplicas"].NumberValue(), o["maxReplicas"].NumberValue())
		}
	}
	var parts []string
	for _, svc := range []string{"api", "search", "web", "ingest"} {
		n, ok := planned[svc]
		if !ok {
			n = fmt.Sprint(r.Settings.Tier.Replicas)
		}
		parts = append(parts, svc+" "+n)
	}
	return strings.Join(parts, ", ")
}

// name is a Kubernetes object's metadata.name.
func name(res mockmonitor.Resource) string {
	if m := res.Inputs["metadata"]; m.IsObject() {
		if n := m.ObjectValue()["name"]; n.IsString() {
			return n.StringValue()
		}
	}
	return ""
}

// WriteBOM prints the bill of materials: machines, CPU, memory, storage and
// replicas per service, from the tier's settings and the recorded resources.
func (r *Result) WriteBOM(w io.Writer) {
	s := r.Settings
	t := s.Tier
	where := fmt.Sprintf("%s (%s)", s.Provider, s.Region)
	if s.Provider == tier.Kubernetes {
		where = "an existing cluster (nano:provider kubernetes): the nodes below are yours to provide"
	}
	fmt.Fprintf(w, "Bill of materials: tier %s on %s, deployment %s\n", t.Name, where, s.Deployment)
	// machineType names a pool's machines: the provider's type, or on an
	// existing cluster the node label nano places the pool's pods by.
	machineType := func(p tier.Pool) string {
		switch {
		case s.Provider == tier.Kubernetes && p.Role == tier.General:
			return "nodes"
		case s.Provider == tier.Kubernetes && p.Role == tier.ClickHouse:
			return "nodes labeled and tainted " + kubeobjects.PoolTaint + "=" + string(p.Role) + ":NoSchedule"
		case s.Provider == tier.Kubernetes:
			return "nodes labeled " + kubeobjects.PoolLabel + "=" + string(p.Role)
		case p.Role == tier.General:
			return s.MachineType
		}
		mt, _ := tier.MachineType(s.Provider, p.Machine)
		return mt
	}
	var nodes, cpu, mem int
	for _, p := range t.Pools {
		size := p.Machine
		if m, err := tier.MachineSize(s.Provider, s.MachineType); err == nil && p.Role == tier.General {
			size = m // what is planned: nano:machineType may be larger
		}
		nodes += p.Nodes
		cpu += p.Nodes * size.CPU
		mem += p.Nodes * size.MemoryGB
		fmt.Fprintf(w, "  pool %-10s %d x %s (%s, %s)\n", p.Role, p.Nodes, machineType(p), size, p.Scheduling)
	}
	if s.Band.Label != "" {
		for _, p := range []tier.Pool{s.Band.App, s.Band.Ingest} {
			nodes += p.Nodes
			cpu += p.Nodes * p.Machine.CPU
			mem += p.Nodes * p.Machine.MemoryGB
			fmt.Fprintf(w, "  pool %-10s %d x %s (%s, %s; %s)\n", p.Role, p.Nodes, machineType(p), p.Machine, p.Scheduling, s.Band.Label)
		}
	}
	fmt.Fprintf(w, "  machines   %d nodes, %d CPU, %d GB memory\n", nodes, cpu, mem)
	var volumes int
	for _, v := range r.ByType("hcloud:index/volume:Volume") {
		if size, ok := v.Inputs["size"]; ok && size.IsNumber() {
			volumes += int(size.NumberValue())
		}
	}
	switch {
	case t.ClickHouse.Cloud:
		fmt.Fprintf(w, "  storage    ClickHouse Cloud (managed)\n")
	default:
		fmt.Fprintf(w, "  storage    %d GB hot per ClickHouse pod (%d days at %d GB/day need %d GB", t.HotStoragePerPodGB(), t.HotDays(), t.GBPerDay, t.HotNeedPerPodGB())
		if need, seed := t.HotNeedPerPodGB(), t.CatalogHotPerPodGB(); need > seed {
			fmt.Fprintf(w, "; the catalog's %d GB is too small", seed)
		}
		fmt.Fprintf(w, ")")
		if volumes > 0 {
			fmt.Fprintf(w, ", %d GB in volumes", volumes)
		}
		if t.ClickHouse.WarmS3 {
			fmt.Fprintf(w, ", warm S3")
		}
		fmt.Fprintln(w)
	}
	rolloff := ""
	if t.Retention.WarmThenRolloff {
		rolloff = ", then roll-off"
	}
	if t.Retention.Days > 0 {
		fmt.Fprintf(w, "  retention  %d days%s\n", t.Retention.Days, rolloff)
	}
	switch {
	case t.ClickHouse.Cloud:
		fmt.Fprintf(w, "  clickhouse ClickHouse Cloud\n")
	default:
		fmt.Fprintf(w, "  clickhouse %d shard(s) x %d replica(s), keeper %d\n", t.ClickHouse.Shards, t.ClickHouse.Replicas, t.ClickHouse.KeeperNodes)
	}
	if t.Postgres.Managed {
		fmt.Fprintf(w, "  postgresql managed (%s)\n", map[tier.Provider]string{tier.GCP: "Cloud SQL", tier.AWS: "RDS"}[s.Provider])
	} else {
		fmt.Fprintf(w, "  postgresql %d instance(s)\n", t.Postgres.Instances)
	}
	fmt.Fprintf(w, "  replicas   %s\n", r.replicas())
	counts := r.Counts()
	types := make([]string, 0, len(counts))
	for typ := range counts {
		types = append(types, typ)
	}
	sort.Strings(types)
	if len(r.OfflineSecrets) > 0 {
		fmt.Fprintf(w, "  secrets    planned with placeholders; pulumi up needs: %s\n", strings.Join(r.OfflineSecrets, ", "))
	}
	fmt.Fprintf(w, "Resources: %d\n", len(r.Resources))
	for _, typ := range types {
		fmt.Fprintf(w, "  %3d  %s\n", counts[typ], typ)
	}
}
