package standinproviders

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// EnvProbeVersion is the version the env probe reports.
const EnvProbeVersion = "0.0.1"

// EnvProbe is a test-only plugin, not a stand-in: its one resource,
// nanoenv:index:Probe, reports which value each named variable has in the
// plugin's environment, which is the environment the Pulumi CLI gives a
// deployment's providers (and their credential plugins). It reports a
// digest, never the value: digests[name] is the first 16 hex digits of the
// value's SHA-256, "" when unset or empty. A name ending in "@file" reports
// the digest of the contents of the file the variable names ("" when unset
// or unreadable): credential files an operation writes.
func EnvProbe() *Provider {
	return &Provider{Name: "nanoenv", Version: EnvProbeVersion, Resources: map[string]create{
		"nanoenv:index:Probe": envProbe,
	}}
}

func envProbe(in resource.PropertyMap) (resource.PropertyMap, error) {
	digests := resource.PropertyMap{}
	for _, name := range strs(in, "names") {
		d := ""
		if v, ok := strings.CutSuffix(name, "@file"); ok {
			if b, err := os.ReadFile(os.Getenv(v)); err == nil && os.Getenv(v) != "" {
				d = EnvDigest(string(b))
			}
		} else if v := os.Getenv(name); v != "" {
			d = EnvDigest(v)
		}
		digests[resource.PropertyKey(name)] = resource.NewStringProperty(d)
	}
	return resource.PropertyMap{"digests": resource.NewObjectProperty(digests)}, nil
}

// EnvDigest is what the probe reports for a value.
func EnvDigest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:8])
}
