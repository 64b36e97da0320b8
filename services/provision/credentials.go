package provision

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	// A role in the customer's account that nano's identity (the server's
	// AWS credentials, or the deployment's own keys) assumes: given to the
	// operation as an AWS profile (awsRoleProfile), which the AWS provider
	// and `aws eks get-token` both follow.
	"awsRoleArn":        {Key: "byoc:awsRoleArn"},
	"awsRoleExternalId": {Key: "byoc:awsRoleExternalId"},
}

// awsRoleARN is an IAM role's ARN (any partition); awsExternalID the
// characters STS allows in an external id.
var (
	awsRoleARN    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	awsExternalID = regexp.MustCompile(`^[A-Za-z0-9+=,.@:/_-]+$`)
)

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
		case name != "gcpServiceAccountKey" && strings.ContainsAny(v, "\r\n"):
			problems = append(problems, fmt.Sprintf("credentials.%s: must be one line", name))
		case name == "awsRoleArn" && !awsRoleARN.MatchString(v):
			problems = append(problems, fmt.Sprintf("credentials.awsRoleArn: %q is not an IAM role ARN (arn:aws:iam::123456789012:role/name)", v))
		case name == "awsRoleExternalId" && (len(v) < 2 || len(v) > 1224 || !awsExternalID.MatchString(v)):
			problems = append(problems, "credentials.awsRoleExternalId: must be 2 to 1224 of A-Z a-z 0-9 +=,.@:/_-")
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
	if role := cfg["byoc:awsRoleArn"].Value; role != "" {
		// The identity that assumes the role: the deployment's own keys,
		// else the server's (nano's account, which the role trusts).
		base := [3]string{env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]}
		if base[0] == "" {
			base = [3]string{m.serverEnv("AWS_ACCESS_KEY_ID"), m.serverEnv("AWS_SECRET_ACCESS_KEY"), m.serverEnv("AWS_SESSION_TOKEN")}
		}
		config, creds := awsRoleProfile(role, cfg["byoc:awsRoleExternalId"].Value, "nano-"+d.Name, base)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		for file, body := range map[string]string{"AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": creds} {
			path := filepath.Join(dir, strings.ToLower(file))
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				return err
			}
			env[file] = path
		}
		// Keys in the environment would win over the profile.
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = "", "", ""
		env["AWS_PROFILE"], env["AWS_SDK_LOAD_CONFIG"] = awsRoleProfileName, "1"
	}
	return ws.SetEnvVars(env)
}

// awsRoleProfileName is the AWS profile a BYOC role is assumed through.
const awsRoleProfileName = "nano-byoc"

// awsRoleProfile is the AWS config and credentials files of a profile
// that assumes role (with externalID when the role's trust policy asks
// for one) from base keys, or, without keys, from the instance's role.
func awsRoleProfile(role, externalID, session string, base [3]string) (config, creds string) {
	var b strings.Builder
	fmt.Fprintf(&b, "[profile %s]\nrole_arn = %s\nrole_session_name = %s\n", awsRoleProfileName, role, session)
	if externalID != "" {
		fmt.Fprintf(&b, "external_id = %s\n", externalID)
	}
	if base[0] == "" {
		b.WriteString("credential_source = Ec2InstanceMetadata\n")
		return b.String(), ""
	}
	fmt.Fprintf(&b, "source_profile = %s-base\n", awsRoleProfileName)
	var c strings.Builder
	fmt.Fprintf(&c, "[%s-base]\naws_access_key_id = %s\naws_secret_access_key = %s\n", awsRoleProfileName, base[0], base[1])
	if base[2] != "" {
		fmt.Fprintf(&c, "aws_session_token = %s\n", base[2])
	}
	return b.String(), c.String()
}

// serverEnv is a variable of the server's own environment as operations
// get it (Config.Env over the process's).
func (m *Manager) serverEnv(k string) string {
	if v, ok := m.cfg.Env[k]; ok {
		return v
	}
	return os.Getenv(k)
}
