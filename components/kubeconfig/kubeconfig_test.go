package kubeconfig

import (
	"encoding/base64"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func pem(kind, body string) string {
	return "-----BEGIN " + kind + "-----\n" + body + "\n-----END " + kind + "-----\n"
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	ca, cert, key := pem("CERTIFICATE", "ca"), pem("CERTIFICATE", "admin"), pem("EC PRIVATE KEY", "k")
	out, err := ClientCertificate("https://203.0.113.7:6443", ca, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Clusters []struct {
			Cluster struct {
				Server string `yaml:"server"`
				CA     string `yaml:"certificate-authority-data"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User struct {
				Key string `yaml:"client-key-data"`
			} `yaml:"user"`
		} `yaml:"users"`
		Current string `yaml:"current-context"`
	}
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	gotCA, _ := base64.StdEncoding.DecodeString(cfg.Clusters[0].Cluster.CA)
	gotKey, _ := base64.StdEncoding.DecodeString(cfg.Users[0].User.Key)
	if cfg.Clusters[0].Cluster.Server != "https://203.0.113.7:6443" || string(gotCA) != ca || string(gotKey) != key || cfg.Current != "nano" {
		t.Errorf("kubeconfig does not carry its inputs:\n%s", out)
	}
	if _, err := ClientCertificate("http://x:6443", ca, cert, key); err == nil || !strings.Contains(err.Error(), "not an https URL") {
		t.Errorf("accepted plain http: %v", err)
	}
	if _, err := ClientCertificate("https://x:6443", ca, cert, ""); err == nil {
		t.Error("accepted a missing key")
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	ca := pem("CERTIFICATE", "gke")
	out, err := Exec("https://34.1.2.3", base64.StdEncoding.EncodeToString([]byte(ca)), Plugin{
		Command: "aws", Args: []string{"eks", "get-token", "--cluster-name", "c"}, Env: map[string]string{"B": "2", "A": "1"},
		InstallHint: "install the aws CLI",
	})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Clusters []struct {
			Cluster struct {
				CA string `yaml:"certificate-authority-data"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User struct {
				Exec struct {
					APIVersion string   `yaml:"apiVersion"`
					Command    string   `yaml:"command"`
					Args       []string `yaml:"args"`
					Env        []struct {
						Name, Value string
					} `yaml:"env"`
				} `yaml:"exec"`
			} `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	gotCA, _ := base64.StdEncoding.DecodeString(cfg.Clusters[0].Cluster.CA)
	e := cfg.Users[0].User.Exec
	if string(gotCA) != ca || e.APIVersion != "client.authentication.k8s.io/v1beta1" || e.Command != "aws" ||
		strings.Join(e.Args, " ") != "eks get-token --cluster-name c" || len(e.Env) != 2 || e.Env[0].Name != "A" {
		t.Errorf("exec kubeconfig does not carry its inputs:\n%s", out)
	}
	if pemOut, err := Exec("https://x", ca, Plugin{Command: "gke-gcloud-auth-plugin"}); err != nil || !strings.Contains(pemOut, base64.StdEncoding.EncodeToString([]byte(ca))) {
		t.Errorf("a PEM CA is not encoded: %v", err)
	}
	for _, bad := range []struct{ server, ca, cmd, want string }{
		{"34.1.2.3", ca, "x", "not an https URL"},
		{"https://x", "bm90IGEgY2VydA==", "x", "neither PEM nor base64 of PEM"},
		{"https://x", ca, "", "has no command"},
	} {
		if _, err := Exec(bad.server, bad.ca, Plugin{Command: bad.cmd}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Exec(%q, %q, %q): %v, want %q", bad.server, bad.ca, bad.cmd, err, bad.want)
		}
	}
}
