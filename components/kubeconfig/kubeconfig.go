// Package kubeconfig builds the kubeconfig a cluster component hands to the
// Kubernetes provider: with an admin client certificate (clusters nano runs
// itself) or with a credential plugin (managed clusters, whose tokens are
// short-lived and issued by the cloud's CLI).
package kubeconfig

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ClientCertificate returns an admin kubeconfig for the API at server
// (https://host:port) trusting caPEM and authenticating with a client
// certificate. It holds the client key: treat it as a secret.
func ClientCertificate(server, caPEM, certPEM, keyPEM string) (string, error) {
	if err := checkServer(server); err != nil {
		return "", err
	}
	for name, v := range map[string]string{"CA": caPEM, "certificate": certPEM, "key": keyPEM} {
		if !isPEM(v) {
			return "", fmt.Errorf("cannot build kubeconfig: the %s is not PEM", name)
		}
	}
	return encode(server, b64(caPEM), map[string]any{
		"client-certificate-data": b64(certPEM), "client-key-data": b64(keyPEM),
	})
}

// Plugin is a client-go credential plugin (client.authentication.k8s.io/v1beta1).
type Plugin struct {
	Command string
	Args    []string
	Env     map[string]string
	// InstallHint is shown when the command is missing.
	InstallHint string
}

// Exec returns a kubeconfig for the API at server trusting the CA (PEM or
// base64 of PEM, as clouds report it) and getting tokens from plugin.
func Exec(server, ca string, plugin Plugin) (string, error) {
	if err := checkServer(server); err != nil {
		return "", err
	}
	caData := ca
	if isPEM(ca) {
		caData = b64(ca)
	} else if raw, err := base64.StdEncoding.DecodeString(ca); err != nil || !isPEM(string(raw)) {
		return "", fmt.Errorf("cannot build kubeconfig: the CA is neither PEM nor base64 of PEM")
	}
	if plugin.Command == "" {
		return "", fmt.Errorf("cannot build kubeconfig: the credential plugin has no command")
	}
	exec := map[string]any{
		"apiVersion": "client.authentication.k8s.io/v1beta1", "command": plugin.Command,
		"interactiveMode": "Never", "provideClusterInfo": false,
	}
	if len(plugin.Args) > 0 {
		exec["args"] = plugin.Args
	}
	if len(plugin.Env) > 0 {
		var env []any
		for _, k := range slices.Sorted(maps.Keys(plugin.Env)) {
			env = append(env, map[string]any{"name": k, "value": plugin.Env[k]})
		}
		exec["env"] = env
	}
	if plugin.InstallHint != "" {
		exec["installHint"] = plugin.InstallHint
	}
	return encode(server, caData, map[string]any{"exec": exec})
}

func encode(server, caData string, user map[string]any) (string, error) {
	cfg := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{"name": "nano", "cluster": map[string]any{
			"server": server, "certificate-authority-data": caData,
		}}},
		"users":           []any{map[string]any{"name": "nano-admin", "user": user}},
		"contexts":        []any{map[string]any{"name": "nano", "context": map[string]any{"cluster": "nano", "user": "nano-admin"}}},
		"current-context": "nano",
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("cannot encode kubeconfig: %w", err)
	}
	return string(out), nil
}

func checkServer(server string) error {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("cannot build kubeconfig: server %q is not an https URL", server)
	}
	return nil
}

func isPEM(s string) bool { return strings.Contains(s, "-----BEGIN ") }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
