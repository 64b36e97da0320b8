package kubeobjects

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Every Kubernetes tier runs Alertmanager: one on Growth, a gossip
// cluster of 2-3 spread over nodes on the HA tiers, with a disruption
// budget, restricted pods, a pinned image, the configuration from its
// Secret; Prometheus and the api address every member, and only they
// (and its peers) reach it.
func TestAlertmanagerOnEveryTier(t *testing.T) {
	t.Parallel()
	for _, name := range kubeTiers {
		t.Run(string(name), func(t *testing.T) {
			s := specFor(t, name)
			s.AlertmanagerConfigHash = "0123456789abcdef"
			objs := objects(t, s)
			set := find(t, objs, "StatefulSet", "alertmanager")
			replicas := fmt.Sprint(get(t, set, "spec", "replicas"))
			want := "1"
			if s.Tier.HA {
				want = fmt.Sprint(min(s.Tier.Replicas, 3))
				if replicas != "2" && replicas != "3" {
					t.Errorf("an HA tier runs %s Alertmanagers, want a cluster of 2 or 3", replicas)
				}
			}
			if replicas != want {
				t.Errorf("Alertmanager replicas %s, want %s", replicas, want)
			}
			pod := get(t, set, "spec", "template")
			c := get(t, pod, "spec", "containers", 0)
			if img := get(t, c, "image"); img != contract.AlertmanagerImage || !strings.Contains(contract.AlertmanagerImage, ":v0.") {
				t.Errorf("image %v, want the pinned %s", img, contract.AlertmanagerImage)
			}
			args := fmt.Sprint(get(t, c, "args"))
			peers := strings.Count(args, "--cluster.peer=")
			if s.Tier.HA && (peers != len(s.alertmanagerHosts()) || !strings.Contains(args, "--cluster.listen-address=:9094")) {
				t.Errorf("HA members do not gossip with every peer: %s", args)
			}
			alone := false
			for _, a := range get(t, c, "args").([]any) {
				alone = alone || a == "--cluster.listen-address="
			}
			if !s.Tier.HA && (peers != 0 || !alone) {
				t.Errorf("a single Alertmanager listens for peers: %s", args)
			}
			if got := get(t, pod, "metadata", "annotations", configHashAnnotation); got != s.AlertmanagerConfigHash {
				t.Errorf("the pods do not carry the configuration's hash: %v", got)
			}
			if get(t, pod, "spec", "volumes", 0, "secret", "secretName") != SecretAlertmanager {
				t.Errorf("the configuration is not the Secret %s: %v", SecretAlertmanager, get(t, pod, "spec", "volumes"))
			}
			spreads, _ := get(t, pod, "spec").(map[string]any)["topologySpreadConstraints"].([]any)
			if s.Tier.HA != (len(spreads) == 1) {
				t.Errorf("spread %v on a tier with HA %v", spreads, s.Tier.HA)
			}
			find(t, objs, "PodDisruptionBudget", "alertmanager")
			headless := find(t, objs, "Service", alertmanagerPeers)
			if get(t, headless, "spec", "clusterIP") != "None" || get(t, headless, "spec", "publishNotReadyAddresses") != true {
				t.Errorf("the peers' Service is not headless with unready members named: %v", get(t, headless, "spec"))
			}

			// Prometheus and the api name every member.
			var prom map[string]any
			if err := yaml.Unmarshal([]byte(s.prometheusConfig()), &prom); err != nil {
				t.Fatal(err)
			}
			alerting := fmt.Sprint(prom["alerting"])
			for _, h := range s.alertmanagerHosts() {
				if !strings.Contains(alerting, h) {
					t.Errorf("Prometheus does not send to %s: %s", h, alerting)
				}
			}
			if !strings.Contains(alerting, "replacement:platform target_label:tenant") {
				t.Errorf("Prometheus's alerts are not labelled tenant=platform: %s", alerting)
			}
			api := fmt.Sprint(get(t, find(t, objs, "Deployment", "api"), "spec", "template", "spec", "containers", 0, "env"))
			if !strings.Contains(api, contract.AlertmanagerURLs+" value:"+s.alertmanagerURLs()) || strings.Count(s.alertmanagerURLs(), "http://") != s.AlertmanagerReplicas() {
				t.Errorf("the api does not post to every member (%s): %s", s.alertmanagerURLs(), api)
			}
			if !strings.Contains(api, contract.WebURL+" value:https://logs.example.com") {
				t.Errorf("the api's links do not point at the UI: %s", api)
			}

			// Who reaches it.
			np := find(t, objs, "NetworkPolicy", "alertmanager")
			in := fmt.Sprint(get(t, np, "spec", "ingress"))
			for _, from := range []string{"app.kubernetes.io/name:api", "app.kubernetes.io/name:prometheus", "port:9093", "port:9094"} {
				if !strings.Contains(in, from) {
					t.Errorf("Alertmanager's ingress lacks %s: %s", from, in)
				}
			}
			if strings.Contains(in, "ingest") || strings.Contains(in, "search") || strings.Contains(in, "web") {
				t.Errorf("more than the api and Prometheus reach Alertmanager: %s", in)
			}
			if eg := fmt.Sprint(get(t, np, "spec", "egress")); !strings.Contains(eg, "169.254.0.0/16") {
				t.Errorf("Alertmanager may reach the metadata endpoint: %s", eg)
			}
			if eg := fmt.Sprint(get(t, find(t, objs, "NetworkPolicy", "api"), "spec", "egress")); !strings.Contains(eg, "app.kubernetes.io/name:alertmanager") {
				t.Errorf("the api cannot reach Alertmanager: %s", eg)
			}
		})
	}
}

// On Pro, Alertmanager runs on the app pool, not ClickHouse's.
func TestAlertmanagerRunsOnTheAppPool(t *testing.T) {
	t.Parallel()
	objs := objects(t, specFor(t, tier.Pro))
	set := find(t, objs, "StatefulSet", "alertmanager")
	if got := get(t, set, "spec", "template", "spec", "nodeSelector", PoolLabel); got != string(tier.App) {
		t.Errorf("Alertmanager's pool %v, want %s", got, tier.App)
	}
}
