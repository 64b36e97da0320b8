package k3s

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

// Kubeconfig returns an admin kubeconfig for the API at server
// (https://host:6443) trusting caPEM and authenticating with a client
// certificate. It holds the client key: treat it as a secret.
func Kubeconfig(server, caPEM, certPEM, keyPEM string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("cannot build kubeconfig: server %q is not an https URL", server)
	}
	for name, v := range map[string]string{"CA": caPEM, "certificate": certPEM, "key": keyPEM} {
		if !strings.Contains(v, "-----BEGIN ") {
			return "", fmt.Errorf("cannot build kubeconfig: the %s is not PEM", name)
		}
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cfg := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{"name": "nano", "cluster": map[string]any{
			"server": server, "certificate-authority-data": b64(caPEM),
		}}},
		"users": []any{map[string]any{"name": "nano-admin", "user": map[string]any{
			"client-certificate-data": b64(certPEM), "client-key-data": b64(keyPEM),
		}}},
		"contexts":        []any{map[string]any{"name": "nano", "context": map[string]any{"cluster": "nano", "user": "nano-admin"}}},
		"current-context": "nano",
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("cannot encode kubeconfig: %w", err)
	}
	return string(out), nil
}
