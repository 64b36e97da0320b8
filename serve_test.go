package main

import (
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
