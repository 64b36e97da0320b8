package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A listener other machines can reach is refused without TLS, naming the
// flag; loopback listeners may do without (a TLS-terminating proxy on the
// same host); a certificate without its key is refused.
func TestListenerNeedsTLSBeyondLoopback(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8090": "", "[::1]:8090": "", "localhost:8090": "",
		":8090":            "listens on every interface",
		"0.0.0.0:8090":     "listens on every interface",
		"[::]:8090":        "listens on every interface",
		"10.0.0.5:8090":    "10.0.0.5 is not a loopback address",
		"nano.internal:80": `"nano.internal" is a host name, not a loopback address`,
	} {
		_, err := listenerTLS(listen, "", "")
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", listen, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--tls-cert and --tls-key")):
			t.Errorf("%s: %v, want %q", listen, err, want)
		}
	}
	if _, err := listenerTLS("0.0.0.0:8090", "cert.pem", ""); err == nil || !strings.Contains(err.Error(), "give both") {
		t.Errorf("a certificate without its key: %v", err)
	}
	if _, err := listenerTLS("0.0.0.0:8090", "/nonexistent/cert.pem", "/nonexistent/key.pem"); err == nil || !strings.Contains(err.Error(), "--tls-cert/--tls-key") {
		t.Errorf("missing files: %v", err)
	}
}

func TestOperationUIDRange(t *testing.T) {
	r, err := parseUIDRange("1900000000-1999999999")
	if err != nil || r.First != 1900000000 || r.Count != 100000000 {
		t.Errorf("%+v %v", r, err)
	}
	for _, bad := range []string{"", "5", "10-5", "a-b", "1-99999999999"} {
		if _, err := parseUIDRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The shared store's URL (it carries a password) may come from the file
// NANO_PROVISION_STORE_URL_FILE names: what the file holds is the store
// serve checks and uses; an unreadable file is named. The checks come
// before anything starts.
func TestStoreURLFromItsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "store-url")
	if err := os.WriteFile(file, []byte("mysql://nano:pw@db/nano\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--data-dir", filepath.Join(dir, "data"), "--isolation", "none"}
	t.Setenv("NANO_PROVISION_STORE_URL", "")
	t.Setenv("NANO_PROVISION_STORE_URL_FILE", file)
	err := serve(io.Discard, args)
	if err == nil || !strings.Contains(err.Error(), "NANO_PROVISION_STORE_URL_FILE: the store is not a postgres://") || strings.Contains(err.Error(), "pw") {
		t.Errorf("a store URL of another scheme from the file: %v", err)
	}
	t.Setenv("NANO_PROVISION_STORE_URL_FILE", filepath.Join(dir, "absent"))
	if err := serve(io.Discard, args); err == nil || !strings.Contains(err.Error(), "NANO_PROVISION_STORE_URL_FILE:") {
		t.Errorf("an unreadable file: %v", err)
	}
	if v, err := fileVariable("NANO_PROVISION_STORE_URL"); v != "" || err != nil {
		t.Errorf("an unset variable names no file: %q %v", v, err)
	}
	if err := os.WriteFile(file, []byte("postgres://nano:pw@db/nano\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NANO_PROVISION_STORE_URL_FILE", file)
	if v, err := fileVariable("NANO_PROVISION_STORE_URL_FILE"); v != "postgres://nano:pw@db/nano" || err != nil {
		t.Errorf("the file's URL, its newline trimmed: %q %v", v, err)
	}
}
