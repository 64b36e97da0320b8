package kubeobjects

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// The api gets the key that seals stored credentials on every Kubernetes
// tier (without it /v1/credentials answers 503): the key file's path in
// its environment, from the Secret the platform generates.
func TestAPIGetsTheCredentialsKey(t *testing.T) {
	t.Parallel()
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		objs := objects(t, specFor(t, name))
		dep := find(t, objs, "Deployment", "api")
		spec := fmt.Sprint(get(t, dep, "spec", "template", "spec"))
		for _, want := range []string{contract.APICredentialsKeyFile + " value:/etc/nano/secrets/api-credentials/key", "secretName:" + SecretAPICredentials} {
			if !strings.Contains(spec, want) {
				t.Errorf("%s: the api pod has no %q", name, want)
			}
		}
	}
}
