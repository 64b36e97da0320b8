package standinproviders

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
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
//
// It also tries, as the plugin's user, to read each of its "paths" (a
// directory: to list it) and reports in files[path] "read <digest>",
// "listed <n> entries", or the error ("permission denied", ...); uid is
// the user it runs as. The provisioning tests point it at the endpoint's
// and other deployments' files: what a malicious plugin could take.
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
	files := resource.PropertyMap{}
	for _, path := range strs(in, "paths") {
		files[resource.PropertyKey(path)] = resource.NewStringProperty(tryRead(path))
	}
	return resource.PropertyMap{"digests": resource.NewObjectProperty(digests), "files": resource.NewObjectProperty(files),
		"uid": resource.NewStringProperty(strconv.Itoa(os.Getuid()))}, nil
}

// tryRead reads a file (or lists a directory) and says what it got.
func tryRead(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "error: " + errText(err)
	}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return "error: " + errText(err)
		}
		return fmt.Sprintf("listed %d entries", len(entries))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "error: " + errText(err)
	}
	return "read " + EnvDigest(string(b))
}

// errText is an error's cause without its path.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// EnvDigest is what the probe reports for a value.
func EnvDigest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:8])
}
