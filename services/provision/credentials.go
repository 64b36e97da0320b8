package provision

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// A credential of a BYOC deployment: the customer's, given once by name in
// a request's "credentials", stored as its provider's own config key as a
// secret (encrypted by the stack's secrets provider, never returned), and
// put in the environment of that deployment's operations only, where the
// providers and the kubeconfig credential plugins (gke-gcloud-auth-plugin,
// aws eks get-token) read it.
type credential struct {
	// Key is the provider config key it is stored under.
	Key string
	// Env are the variables it is passed in; file: a file holds the value
	// and the variable names its path.
	Env  []string
	File string
}

// credentials are the names a request's "credentials" may carry.
var credentials = map[string]credential{
	"hcloudToken":          {Key: "hcloud:token", Env: []string{"HCLOUD_TOKEN"}},
	"civoToken":            {Key: "civo:token", Env: []string{"CIVO_TOKEN"}},
	"vultrApiKey":          {Key: "vultr:apiKey", Env: []string{"VULTR_API_KEY"}},
	"awsAccessKeyId":       {Key: "aws:accessKey", Env: []string{"AWS_ACCESS_KEY_ID"}},
	"awsSecretAccessKey":   {Key: "aws:secretKey", Env: []string{"AWS_SECRET_ACCESS_KEY"}},
	"awsSessionToken":      {Key: "aws:token", Env: []string{"AWS_SESSION_TOKEN"}},
	"gcpServiceAccountKey": {Key: "gcp:credentials", Env: []string{"GOOGLE_CREDENTIALS"}, File: "GOOGLE_APPLICATION_CREDENTIALS"},
}

// ambientCredentials are the server's own cloud credentials (Managed mode):
// a BYOC deployment's operations get none of them, only its own.
var ambientCredentials = []string{
	"HCLOUD_TOKEN", "CIVO_TOKEN", "VULTR_API_KEY",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"GOOGLE_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE",
	"CLOUDSDK_CONFIG", "KUBECONFIG",
}

// credentialNames lists the names a request may give, sorted.
func credentialNames() []string {
	var out []string
	for n := range credentials {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// planCredentials turns a request's credentials into secrets (config key
// -> value), naming each bad one.
func planCredentials(given map[string]string, secrets map[string]string) (problems []string) {
	for name, v := range given {
		c, ok := credentials[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("credentials.%s: unknown; known: %s", name, strings.Join(credentialNames(), ", ")))
		case strings.TrimSpace(v) == "":
			problems = append(problems, fmt.Sprintf("credentials.%s: empty", name))
		default:
			secrets[c.Key] = v
		}
	}
	return problems
}

// mode is "byoc" when the deployment holds any credential of its own, else
// "managed" (the server's).
func mode(secretKeys []string) string {
	for _, c := range credentials {
		if slices.Contains(secretKeys, c.Key) {
			return "byoc"
		}
	}
	return "managed"
}

// credentialsDir holds, during an operation, the files of credentials that
// tools read from a file (removed when it ends).
func (m *Manager) credentialsDir(name string) string {
	return filepath.Join(m.workspaceDir(name), ".credentials")
}

// useCredentials gives the stack's operations the deployment's own
// credentials, and no ambient one, when it has any (BYOC).
func (m *Manager) useCredentials(ctx context.Context, stack auto.Stack, d *Deployment) error {
	if d == nil || mode(d.SecretKeys) != "byoc" {
		return nil
	}
	ws, ok := stack.Workspace().(*auto.LocalWorkspace)
	if !ok {
		return fmt.Errorf("workspace %T cannot carry credentials", stack.Workspace())
	}
	cfg, err := ws.GetAllConfigWithOptions(ctx, stack.Name(), &auto.GetAllConfigOptions{ShowSecrets: true})
	if err != nil {
		return fmt.Errorf("cannot read the deployment's credentials: %w", err)
	}
	env := map[string]string{}
	for _, k := range ambientCredentials {
		env[k] = ""
	}
	dir := m.credentialsDir(d.Name)
	for name, c := range credentials {
		v, ok := cfg[c.Key]
		if !ok || v.Value == "" {
			continue
		}
		for _, e := range c.Env {
			env[e] = v.Value
		}
		if c.File != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(v.Value), 0o600); err != nil {
				return err
			}
			env[c.File] = path
			if c.File == "GOOGLE_APPLICATION_CREDENTIALS" {
				env["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"] = path
			}
		}
	}
	return ws.SetEnvVars(env)
}
