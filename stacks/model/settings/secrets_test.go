package settings

import (
	"slices"
	"strings"
	"testing"
)

// A secret key set in plaintext is refused with its name and the command
// that sets it; unset secret keys and encrypted ones pass.
func TestPlaintextSecretsNamesTheKey(t *testing.T) {
	t.Parallel()
	encrypted := []string{"nano:backupSecretAccessKey"}
	isSecret := func(k string) bool { return slices.Contains(encrypted, k) }
	get := getter(hobby(map[string]string{KeyBackupKeyID: "AKIA-plain", KeyBackupSecretKey: "s3cret"}))
	err := PlaintextSecrets(get, isSecret)
	if err == nil {
		t.Fatal("a plaintext nano:backupAccessKeyId passed")
	}
	want := "nano:backupAccessKeyId: is a secret but is set in plaintext; set it again with: pulumi config set --secret nano:backupAccessKeyId <value>"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "AKIA-plain") {
		t.Errorf("the error shows a value: %v", err)
	}
	// Unset secrets (the default "") and encrypted ones pass.
	if err := PlaintextSecrets(getter(hobby(nil)), isSecret); err != nil {
		t.Errorf("a stack without secrets: %v", err)
	}
	encrypted = append(encrypted, "nano:backupAccessKeyId")
	if err := PlaintextSecrets(get, isSecret); err != nil {
		t.Errorf("encrypted secrets: %v", err)
	}
	// Every secret key is checked, each named.
	all := map[string]string{}
	for _, k := range Keys {
		if k.Secret {
			all[k.Name] = "x"
		}
	}
	err = PlaintextSecrets(getter(all), func(string) bool { return false })
	for _, k := range Keys {
		if k.Secret && (err == nil || !strings.Contains(err.Error(), "nano:"+k.Name+": is a secret")) {
			t.Errorf("%s in plaintext is not named: %v", k.Name, err)
		}
	}
}
