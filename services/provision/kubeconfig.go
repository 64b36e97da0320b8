package provision

import (
	"fmt"
	"net/url"
	"strings"

	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kubeconfigCheck is "off" only in a binary built for the negative control
// of the kubeconfig tests (go build -ldflags "-X
// github.com/nanosiem/nano/services/provision.kubeconfigCheck=off"): it shows
// that without the check an exec plugin runs. Never set in a release.
var kubeconfigCheck = "on"

// kubeconfigProblems checks a kubeconfig a request sends (a BYOK
// deployment's nano:kubeconfig) for everything that would make the
// Kubernetes provider, on the endpoint's host, run a command, read a file
// or send its requests through a proxy: exec credential plugins,
// auth-provider plugins, tokenFile, client-certificate/client-key and
// certificate-authority paths, proxy-url. It is parsed with client-go's own
// kubeconfig types (clientcmd/api/v1), strictly: a field those types do
// not know, a key twice or a key in another case is refused too, so
// nothing the provider's client-go would read escapes the check. field
// names the request field in each problem.
func kubeconfigProblems(field, raw string) []Problem {
	if kubeconfigCheck == "off" {
		return nil
	}
	j, err := yaml.YAMLToJSONStrict([]byte(raw))
	if err != nil {
		return []Problem{problem(field, "is not a kubeconfig: %s", yamlProblem(err))}
	}
	var kc clientcmdv1.Config
	strict, err := kjson.UnmarshalStrict(j, &kc)
	if err != nil {
		// The decoder's error names Go types; say what is expected.
		return []Problem{problem(field, "is not a kubeconfig: expected a YAML mapping with apiVersion v1, kind Config, clusters, users, contexts and current-context")}
	}
	var out []Problem
	for _, e := range strict {
		// "unknown field", "duplicate field", case-insensitive matches:
		// a field client-go might read that this check would not see.
		out = append(out, problem(field, "%s: nano accepts only the kubeconfig fields it checks", e))
	}
	bad := func(path, construct, why string) {
		out = append(out, problem(field, "%s: %s %s; nano refuses it because the Kubernetes provider would do that on the provisioning endpoint's host. "+
			"Give embedded credentials instead: client-certificate-data and client-key-data, or a ServiceAccount token (token), "+
			"and certificate-authority-data", path, construct, why))
	}
	for i, c := range kc.Clusters {
		p := fmt.Sprintf("clusters[%d] (%q).cluster", i, c.Name)
		if c.Cluster.CertificateAuthority != "" {
			bad(p+".certificate-authority", "a file path", "is read from the host's disk")
		}
		if c.Cluster.ProxyURL != "" {
			bad(p+".proxy-url", "a proxy", "would receive the cluster's traffic and credentials")
		}
		if u, err := url.Parse(c.Cluster.Server); err != nil || u.Scheme != "https" || u.Host == "" {
			out = append(out, problem(field, "%s.server: is not an https:// URL (the provider would send the credentials in clear)", p))
		}
	}
	for i, u := range kc.AuthInfos {
		p := fmt.Sprintf("users[%d] (%q).user", i, u.Name)
		a := u.AuthInfo
		if a.Exec != nil {
			bad(p+".exec", fmt.Sprintf("an exec credential plugin (command %q)", a.Exec.Command), "is run as a command")
		}
		if a.AuthProvider != nil {
			bad(p+".auth-provider", fmt.Sprintf("an auth-provider plugin (%q)", a.AuthProvider.Name), "is run, and may run commands (cmd-path) or read files")
		}
		if a.TokenFile != "" {
			bad(p+".tokenFile", "a file path", "is read from the host's disk")
		}
		if a.ClientCertificate != "" {
			bad(p+".client-certificate", "a file path", "is read from the host's disk")
		}
		if a.ClientKey != "" {
			bad(p+".client-key", "a file path", "is read from the host's disk")
		}
	}
	if kc.CurrentContext == "" {
		out = append(out, problem(field, "current-context: is empty; nano deploys into the current context"))
	} else if !hasContext(kc, kc.CurrentContext) {
		out = append(out, problem(field, "current-context: %q is not one of its contexts", kc.CurrentContext))
	}
	return out
}

func hasContext(kc clientcmdv1.Config, name string) bool {
	for _, c := range kc.Contexts {
		if c.Name == name {
			return true
		}
	}
	return false
}

// yamlProblem is a YAML error without the document's text (a kubeconfig
// holds keys).
func yamlProblem(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
