package provision

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/nanosiem/nano/stacks/model/settings"
)

// ConfigKey is a stack config key a request may set ("nano:tier",
// "gcp:project"). Every other key is refused: a provider's endpoint,
// profile, credentials-file, assume-role or plugin setting would send the
// endpoint's own cloud credentials (Managed mode) to a host the request
// names, or make a provider read a file or run a command on the
// endpoint's host.
type ConfigKey struct {
	Key string
	// Secret keys are stored encrypted and never returned: sent in
	// "config", they are moved to the secrets.
	Secret bool
	// Provider, when set, is the only nano:provider whose deployments take
	// the key (gcp:project on gcp).
	Provider string
}

// ProviderConfigKeys are the provider keys a request may set: for each
// cloud the documented, non-secret settings nano's program leaves to its
// default provider (project, region, zone). Credentials go in
// "credentials"; endpoints, profiles, files, proxies and assumed roles are
// never taken from a request.
func ProviderConfigKeys() []ConfigKey {
	return []ConfigKey{
		{Key: "gcp:project", Provider: "gcp"},
		{Key: "gcp:region", Provider: "gcp"},
		{Key: "gcp:zone", Provider: "gcp"},
		{Key: "aws:region", Provider: "aws"},
		{Key: "civo:region", Provider: "civo"},
	}
}

// ProbeConfigKeys are the keys of the probe program (--program probe).
func ProbeConfigKeys() []ConfigKey {
	var out []ConfigKey
	for _, k := range []string{"parts", "delayMs", "protect", "envNames", "envPaths", "envRound"} {
		out = append(out, ConfigKey{Key: "probe:" + k})
	}
	return append(out, ConfigKey{Key: "probe:secret", Secret: true})
}

// credentialLike matches key names that name a credential: such a key is
// always stored as a secret, whichever field of the request carries it.
var credentialLike = regexp.MustCompile(`(?i)(password|passwd|passphrase|secret|token|credential|api_?key|access_?key|private_?key|kubeconfig|uri$|dsn$)`)

// keyRules is what plan checks keys against.
type keyRules struct {
	keys map[string]ConfigKey
	// credential: the providers' credential keys (from "credentials").
	credential map[string]bool
}

func newKeyRules(keys []ConfigKey) keyRules {
	r := keyRules{keys: map[string]ConfigKey{}, credential: map[string]bool{}}
	for _, k := range keys {
		r.keys[k.Key] = k
	}
	// The cloud credentials a request's "credentials" carry, under the
	// providers' own keys, may come as secrets too; the byoc: keys are
	// nano's (the role ARN through credentials, the external id generated).
	for _, c := range credentials {
		if !strings.HasPrefix(c.Key, byocNamespace+":") {
			r.keys[c.Key] = ConfigKey{Key: c.Key, Secret: true}
			r.credential[c.Key] = true
		}
	}
	return r
}

// byocNamespace holds the keys nano sets itself for a BYOC deployment.
const byocNamespace = "byoc"

// secret reports whether key k is always stored as a secret.
func (r keyRules) secret(k string) bool {
	rule := r.keys[k]
	name := k[strings.Index(k, ":")+1:]
	return rule.Secret || credentialLike.MatchString(name)
}

// problem says why a request field may not set key k on a deployment on
// provider (nil when it may).
func (r keyRules) problem(field, k, provider string) *Problem {
	if rule, ok := r.keys[k]; ok {
		if rule.Provider != "" && rule.Provider != provider {
			p := problem(field, "only a deployment on provider %q takes it (this one is on %q)", rule.Provider, provider)
			return &p
		}
		return nil
	}
	ns, _, _ := strings.Cut(k, ":")
	var same []string
	for key, rule := range r.keys {
		if strings.HasPrefix(key, ns+":") && !r.credential[key] && (rule.Provider == "" || rule.Provider == provider) {
			same = append(same, key)
		}
	}
	sort.Strings(same)
	why := fmt.Sprintf("is not a key nano accepts (none of namespace %s on provider %q)", ns, provider)
	switch {
	case ns == byocNamespace:
		why = "is set by nano itself (credentials.awsRoleArn sets the role; the external id is generated)"
	case len(same) > 0 && len(same) <= 8:
		why = fmt.Sprintf("is not a key nano accepts (of namespace %s it accepts %s)", ns, strings.Join(same, ", "))
	case len(same) > 0:
		why = fmt.Sprintf("is not a key nano accepts (of namespace %s it accepts the keys Pulumi.yaml declares)", ns)
	}
	if slices.Contains([]string{"hcloud", "civo", "vultr", "aws", "gcp", "kubernetes"}, ns) {
		why += ": a provider's endpoint, profile, file, proxy, assumed role or plugin setting would send the endpoint's credentials elsewhere " +
			"or make the provider read files or run commands on the endpoint's host; cloud credentials go in \"credentials\""
	}
	p := problem(field, "%s", why)
	return &p
}

// internalKey reports whether k is a key nano itself keeps in a stack
// (not from a request): the BYOC role and external id, an upgrade's data
// addresses.
func internalKey(k string) bool {
	return strings.HasPrefix(k, byocNamespace+":") || strings.HasPrefix(k, moveNamespace+":")
}

// ProgramConfigKeys are the keys nano's program takes from a request: its
// own (settings.Keys, as declared, so a key added there is accepted) and
// ProviderConfigKeys.
func ProgramConfigKeys() []ConfigKey {
	var out []ConfigKey
	for _, k := range settings.Keys {
		out = append(out, ConfigKey{Key: settings.Namespace + ":" + k.Name, Secret: k.Secret})
	}
	return append(out, ProviderConfigKeys()...)
}
