package k3s

import (
	"encoding/base64"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestKubeconfig(t *testing.T) {
	ca, cert, key := pem("CERTIFICATE", "ca"), pem("CERTIFICATE", "admin"), pem("EC PRIVATE KEY", "k")
	out, err := Kubeconfig("https://203.0.113.7:6443", ca, cert, key)
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
	if _, err := Kubeconfig("http://x:6443", ca, cert, key); err == nil || !strings.Contains(err.Error(), "not an https URL") {
		t.Errorf("accepted plain http: %v", err)
	}
	if _, err := Kubeconfig("https://x:6443", ca, cert, ""); err == nil {
		t.Error("accepted a missing key")
	}
}
