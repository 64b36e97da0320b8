package tier

import (
	"strings"
	"testing"
)

// Every type the catalog picks has the size it is picked for, and override
// names resolve to their real sizes.
func TestMachineSizes(t *testing.T) {
	t.Parallel()
	for p, types := range machineTypes {
		for want, name := range types {
			got, err := MachineSize(p, name)
			if err != nil || got != want {
				t.Errorf("%s %s: %v %v, the catalog uses it as %v", p, name, got, err, want)
			}
		}
	}
	for _, c := range []struct {
		p    Provider
		name string
		want Machine
	}{
		{AWS, "t3.nano", Machine{2, 0}}, {AWS, "c6i.2xlarge", Machine{8, 16}}, {AWS, "r6i.large", Machine{2, 16}},
		{GCP, "n2-highmem-8", Machine{8, 64}}, {GCP, "e2-custom-6-12288", Machine{6, 12}},
		{Vultr, "vhf-8c-32gb", Machine{8, 32}}, {Hetzner, "cpx41", Machine{8, 16}}, {Civo, "g4s.kube.xlarge", Machine{6, 16}},
	} {
		if got, err := MachineSize(c.p, c.name); err != nil || got != c.want {
			t.Errorf("%s %s: %v %v, want %v", c.p, c.name, got, err, c.want)
		}
	}
	if _, err := MachineSize(AWS, "x1e.32xlarge"); err == nil || !strings.Contains(err.Error(), "m5/m6i") {
		t.Errorf("an unknown type: %v", err)
	}
	if (Machine{4, 8}).Covers(Machine{4, 16}) || !(Machine{8, 32}).Covers(Machine{4, 16}) {
		t.Error("Covers")
	}
}
