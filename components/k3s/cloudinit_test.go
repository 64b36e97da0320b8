package k3s

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite testdata/cloud-init.yaml")

func pem(kind, body string) string {
	return "-----BEGIN " + kind + "-----\n" + body + "\n-----END " + kind + "-----\n"
}

var testCAs = CAs{
	ServerCert: pem("CERTIFICATE", "server"), ServerKey: pem("EC PRIVATE KEY", "serverkey"),
	ClientCert: pem("CERTIFICATE", "client"), ClientKey: pem("EC PRIVATE KEY", "clientkey"),
	RequestHeaderCert: pem("CERTIFICATE", "rh"), RequestHeaderKey: pem("EC PRIVATE KEY", "rhkey"),
}

func TestCloudInitGolden(t *testing.T) {
	got, err := CloudInit(Params{PublicIP: "203.0.113.7", CAs: testCAs})
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/cloud-init.yaml", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/cloud-init.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("cloud-init differs from testdata/cloud-init.yaml; review and run go test ./components/k3s -update\n%s", got)
	}
	var cfg struct {
		WriteFiles []struct{ Path, Permissions, Content string } `yaml:"write_files"`
		Runcmd     []string                                      `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(got, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.WriteFiles) != 6 {
		t.Errorf("%d CA files, want 6", len(cfg.WriteFiles))
	}
	for _, f := range cfg.WriteFiles {
		if strings.HasSuffix(f.Path, ".key") && f.Permissions != "0600" {
			t.Errorf("%s has mode %s", f.Path, f.Permissions)
		}
	}
	if run := strings.Join(cfg.Runcmd, "\n"); !strings.Contains(run, "INSTALL_K3S_VERSION="+Version) || !strings.Contains(run, "--tls-san 203.0.113.7") {
		t.Errorf("k3s install command: %s", run)
	}
}

func TestCloudInitRejectsBadInput(t *testing.T) {
	if _, err := CloudInit(Params{PublicIP: "not-an-ip", CAs: testCAs}); err == nil {
		t.Error("accepted a bad IP")
	}
	cas := testCAs
	cas.ClientKey = ""
	if _, err := CloudInit(Params{PublicIP: "203.0.113.7", CAs: cas}); err == nil || !strings.Contains(err.Error(), "client-ca.key is not PEM") {
		t.Errorf("accepted a missing key: %v", err)
	}
}
