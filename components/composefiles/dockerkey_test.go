package composefiles

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// openPGPFingerprint is the v4 fingerprint of an armored key's primary
// key: SHA-1 over 0x99, the public-key packet's two-byte length and body
// (RFC 4880, 12.2).
func openPGPFingerprint(t *testing.T, armored string) string {
	t.Helper()
	var body strings.Builder
	inBody := false
	for _, line := range strings.Split(armored, "\n") {
		switch {
		case strings.HasPrefix(line, "-----BEGIN"):
		case !inBody && strings.TrimSpace(line) == "":
			inBody = true
		case inBody && strings.HasPrefix(line, "="), strings.HasPrefix(line, "-----END"):
			inBody = false
		case inBody:
			body.WriteString(strings.TrimSpace(line))
		}
	}
	raw, err := base64.StdEncoding.DecodeString(body.String())
	if err != nil {
		t.Fatalf("the key's armor does not decode: %v", err)
	}
	// An old-format public-key packet (tag 6) with a two-byte length.
	if len(raw) < 3 || raw[0] != 0x99 {
		t.Fatalf("the key does not start with a public-key packet: % x", raw[:min(len(raw), 3)])
	}
	n := int(raw[1])<<8 | int(raw[2])
	sum := sha1.Sum(raw[:3+n])
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// The user data carries Docker's signing key itself, and it is the key
// Docker publishes the fingerprint of.
func TestDockerAptKeyIsEmbedded(t *testing.T) {
	t.Parallel()
	ud, err := CloudInit(params(t, "hobby", ""), testSecrets)
	if err != nil {
		t.Fatal(err)
	}
	var cfg cloudConfig
	if err := yaml.Unmarshal(ud, &cfg); err != nil {
		t.Fatal(err)
	}
	src := cfg.Apt.Sources["docker.list"]
	if got := openPGPFingerprint(t, src.Key); got != dockerKeyFingerprint {
		t.Errorf("the embedded key's fingerprint is %s, want Docker's %s", got, dockerKeyFingerprint)
	}
	if strings.Contains(string(ud), "keyid") || strings.Contains(string(ud), "keyserver") {
		t.Error("the user data still asks a keyserver for Docker's key")
	}
	if !strings.Contains(src.Source, "signed-by=$KEY_FILE") {
		t.Errorf("the source does not pin the key: %s", src.Source)
	}
}
