package settings

import (
	"errors"
	"fmt"
)

// Optional secrets.
//
// Pulumi.yaml declares each secret key of Keys (Secret: true) with
// `secret: true` and `default: ""` but without a `type`: the key is
// optional, and the CLI must accept a stack that does not set it. Since
// v3.202 the CLI fills an unset key with its project default as a plaintext
// value and then refuses a typed secret key whose value is not encrypted
// ("must be encrypted as it's secret", pulumi/pulumi#21865), so a typed
// secret key with a default fails every stack that leaves it unset, and a
// typed secret key without one is required. The CLI checks only typed keys,
// so with the type left out it accepts the stack, and refusing a value that
// was set in plaintext is the program's job: PlaintextSecrets.

// PlaintextSecrets returns an error naming every secret key that is set but
// not held as a secret by the engine: isSecret reports whether a full key
// ("nano:kubeconfig") is one of the stack's secret config keys
// (pulumi.Context.IsConfigSecret, the engine's list of the config values
// that were set with --secret). Unset keys (their default "") pass.
func PlaintextSecrets(get Getter, isSecret func(key string) bool) error {
	var errs []error
	for _, k := range Keys {
		if !k.Secret || get(k.Name) == "" {
			continue
		}
		full := Namespace + ":" + k.Name
		if !isSecret(full) {
			errs = append(errs, fmt.Errorf("%s: is a secret but is set in plaintext; set it again with: pulumi config set --secret %s <value>", full, full))
		}
	}
	return errors.Join(errs...)
}
