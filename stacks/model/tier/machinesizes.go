package tier

import (
	"fmt"
	"regexp"
	"strconv"
)

// MachineSize is the size of a provider's machine type, for validating an
// override (nano:machineType) against the tier and printing what is
// planned. It knows each provider's general-purpose amd64 families; other
// names are refused with the families it knows.
func MachineSize(p Provider, name string) (Machine, error) {
	switch p {
	case Hetzner:
		if m, ok := hetznerTypes[name]; ok {
			return m, nil
		}
	case Civo:
		if m, ok := civoTypes[name]; ok {
			return m, nil
		}
	case Vultr:
		// vc2-4c-8gb, vhf-2c-4gb, vhp-4c-8gb-amd, voc-g-4c-16gb-80s ...
		if g := reVultr.FindStringSubmatch(name); g != nil {
			return Machine{CPU: sizeNum(g[1]), MemoryGB: sizeNum(g[2])}, nil
		}
	case GCP:
		if g := reGCPPreset.FindStringSubmatch(name); g != nil {
			cpu := sizeNum(g[2])
			return Machine{CPU: cpu, MemoryGB: cpu * gcpGBPerCPU[g[1]]}, nil
		}
		if g := reGCPCustom.FindStringSubmatch(name); g != nil {
			return Machine{CPU: sizeNum(g[1]), MemoryGB: sizeNum(g[2]) / 1024}, nil
		}
	case AWS:
		if g := reAWS.FindStringSubmatch(name); g != nil {
			family, size := g[1], g[3]
			if family == "t3" || family == "t3a" {
				if m, ok := awsBurstable[size]; ok {
					return m, nil
				}
			} else if cpu, ok := awsSizeCPU[size]; ok {
				return Machine{CPU: cpu, MemoryGB: cpu * awsGBPerCPU[family[:1]]}, nil
			}
		}
	default:
		return Machine{}, fmt.Errorf("no machine types for provider %q", p)
	}
	return Machine{}, fmt.Errorf("%q is not a %s machine type nano knows (%s)", name, p, knownFamilies[p])
}

var knownFamilies = map[Provider]string{
	Hetzner: "cx22-cx52, cx23-cx53, cpx11-cpx51, ccx13-ccx63",
	Civo:    "g4s.kube.xsmall to g4s.kube.xlarge",
	Vultr:   "<plan>-<N>c-<M>gb, e.g. vc2-4c-8gb",
	GCP:     "e2/n2/n2d/n4/c3/c3d-standard|highmem|highcpu-N, e2-custom-N-MB",
	AWS:     "m5/m6i/m6a/m7i/m7a, c5/c6i/c6a/c7i, r5/r6i/r7i .large-.16xlarge, t3/t3a",
}

var (
	hetznerTypes = map[string]Machine{
		"cx22": {2, 4}, "cx32": {4, 8}, "cx42": {8, 16}, "cx52": {16, 32},
		"cx23": {2, 4}, "cx33": {4, 8}, "cx43": {8, 16}, "cx53": {16, 32},
		"cpx11": {2, 2}, "cpx21": {3, 4}, "cpx31": {4, 8}, "cpx41": {8, 16}, "cpx51": {16, 32},
		"ccx13": {2, 8}, "ccx23": {4, 16}, "ccx33": {8, 32}, "ccx43": {16, 64}, "ccx53": {32, 128}, "ccx63": {48, 192},
	}
	civoTypes = map[string]Machine{
		"g4s.kube.xsmall": {1, 1}, "g4s.kube.small": {1, 2}, "g4s.kube.medium": {2, 4},
		"g4s.kube.large": {4, 8}, "g4s.kube.xlarge": {6, 16},
	}
	reVultr     = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z])?-([0-9]+)c-([0-9]+)gb(?:-[a-z0-9]+)*$`)
	reGCPPreset = regexp.MustCompile(`^(?:e2|n2|n2d|n4|c3|c3d)-(standard|highmem|highcpu)-([0-9]+)$`)
	reGCPCustom = regexp.MustCompile(`^e2-custom-([0-9]+)-([0-9]+)$`)
	gcpGBPerCPU = map[string]int{"standard": 4, "highmem": 8, "highcpu": 1}
	reAWS       = regexp.MustCompile(`^((?:m5|m6i|m6a|m7i|m7a|c5|c6i|c6a|c7i|r5|r6i|r7i|t3a|t3))(\.)([0-9]*x?large|nano|micro|small|medium)$`)
	awsSizeCPU  = map[string]int{"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48, "16xlarge": 64}
	awsGBPerCPU = map[string]int{"m": 4, "c": 2, "r": 8}
	// t3: 2 vCPU up to large; nano, micro and small have under 2 GB.
	awsBurstable = map[string]Machine{"nano": {2, 0}, "micro": {2, 1}, "small": {2, 2}, "medium": {2, 4},
		"large": {2, 8}, "xlarge": {4, 16}, "2xlarge": {8, 32}}
)

func sizeNum(s string) int { n, _ := strconv.Atoi(s); return n }

// Covers reports whether m has at least want's CPU and memory.
func (m Machine) Covers(want Machine) bool { return m.CPU >= want.CPU && m.MemoryGB >= want.MemoryGB }
