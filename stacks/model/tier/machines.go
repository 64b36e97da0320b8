package tier

import (
	"fmt"
	"slices"
	"strings"
)

// machineTypes maps each catalog machine size to the provider's instance type
// of exactly that size. Why these types:
//
//   - hetzner: CCX13 (2 dedicated vCPU / 8 GB) and CCX23 (4 / 16) are the only
//     Hetzner types with exactly the Hobby and Startup sizes, and dedicated
//     vCPUs keep ClickHouse merges from being throttled by noisy neighbours.
//     CX33 (4 shared vCPU / 8 GB) is Growth's 4 / 8 node; CCX33 (8 / 32) is
//     the next dedicated size.
//   - civo: g4s.kube.large is Civo's 4 CPU / 8 GB Kubernetes node.
//   - vultr: vc2-4c-8gb is Vultr's 4 vCPU / 8 GB regular instance.
//   - gcp: e2-standard-N are 4 GB per vCPU; 4 / 8 is a custom E2 shape.
//   - aws: m6i (4 GiB per vCPU) for general sizes, c6i.xlarge for 4 / 8.
var machineTypes = map[Provider]map[Machine]string{
	Hetzner: {
		{CPU: 2, MemoryGB: 8}:  "ccx13",
		{CPU: 4, MemoryGB: 16}: "ccx23",
		{CPU: 4, MemoryGB: 8}:  "cx33",
		{CPU: 8, MemoryGB: 32}: "ccx33",
	},
	Civo: {
		{CPU: 4, MemoryGB: 8}: "g4s.kube.large",
	},
	Vultr: {
		{CPU: 4, MemoryGB: 8}: "vc2-4c-8gb",
	},
	GCP: {
		{CPU: 2, MemoryGB: 8}:   "e2-standard-2",
		{CPU: 4, MemoryGB: 8}:   "e2-custom-4-8192",
		{CPU: 4, MemoryGB: 16}:  "e2-standard-4",
		{CPU: 8, MemoryGB: 32}:  "e2-standard-8",
		{CPU: 16, MemoryGB: 64}: "e2-standard-16",
	},
	AWS: {
		{CPU: 2, MemoryGB: 8}:   "m6i.large",
		{CPU: 4, MemoryGB: 8}:   "c6i.xlarge",
		{CPU: 4, MemoryGB: 16}:  "m6i.xlarge",
		{CPU: 8, MemoryGB: 32}:  "m6i.2xlarge",
		{CPU: 16, MemoryGB: 64}: "m6i.4xlarge",
	},
}

// MachineType returns the provider's instance type for machine size m.
func MachineType(p Provider, m Machine) (string, error) {
	types, ok := machineTypes[p]
	if !ok {
		return "", fmt.Errorf("no machine types for provider %q", p)
	}
	t, ok := types[m]
	if !ok {
		var sizes []string
		for size := range types {
			sizes = append(sizes, size.String())
		}
		slices.Sort(sizes)
		return "", fmt.Errorf("provider %q has no %s machine (it has %s)", p, m, strings.Join(sizes, ", "))
	}
	return t, nil
}

// ManagedPostgresMachine is the size of Enterprise's managed PostgreSQL
// (metadata only: users, rules, alerts, history). The seed names the
// services (Cloud SQL, RDS) but no size; 2 vCPU / 8 GB is nano's default.
var ManagedPostgresMachine = Machine{CPU: 2, MemoryGB: 8}

// managedPostgresClasses are the managed database classes of that size.
var managedPostgresClasses = map[Provider]map[Machine]string{
	GCP: {{CPU: 2, MemoryGB: 8}: "db-custom-2-8192"},
	AWS: {{CPU: 2, MemoryGB: 8}: "db.m6i.large"},
}

// ManagedPostgresClass returns the provider's managed PostgreSQL class for
// machine size m.
func ManagedPostgresClass(p Provider, m Machine) (string, error) {
	c, ok := managedPostgresClasses[p][m]
	if !ok {
		return "", fmt.Errorf("provider %q has no managed PostgreSQL class of %s", p, m)
	}
	return c, nil
}
