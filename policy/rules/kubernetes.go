package rules

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// podTemplate is one pod template inside a Kubernetes object.
type podTemplate struct {
	path string
	meta metav1.ObjectMeta
	spec corev1.PodSpec
}

// podTemplates finds the pod templates of workloads, Jobs, CronJobs, Pods
// and the Altinity installations' podTemplates. Templates that do not
// decode (unknown values of a preview) are skipped.
func podTemplates(r Resource) []podTemplate {
	if !kubernetes(r) {
		return nil
	}
	var raw []struct {
		path string
		v    any
	}
	add := func(path string, v any) {
		if v != nil {
			raw = append(raw, struct {
				path string
				v    any
			}{path, v})
		}
	}
	switch kind(r) {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		add("spec.template", get(r.Props, "spec", "template"))
	case "CronJob":
		add("spec.jobTemplate.spec.template", get(r.Props, "spec", "jobTemplate", "spec", "template"))
	case "Pod":
		add("", map[string]any{"metadata": r.Props["metadata"], "spec": r.Props["spec"]})
	case "ClickHouseInstallation", "ClickHouseKeeperInstallation":
		for i, t := range list(get(r.Props, "spec", "templates", "podTemplates")) {
			add(fmt.Sprintf("spec.templates.podTemplates[%d]", i), map[string]any{"metadata": get(t, "metadata"), "spec": get(t, "spec")})
		}
	}
	var out []podTemplate
	for _, t := range raw {
		b, err := json.Marshal(t.v)
		if err != nil {
			continue
		}
		var pt corev1.PodTemplateSpec
		if json.Unmarshal(b, &pt) != nil {
			continue
		}
		out = append(out, podTemplate{path: t.path, meta: pt.ObjectMeta, spec: pt.Spec})
	}
	return out
}

func where(path string) string {
	if path == "" {
		return "the pod"
	}
	return path
}

var podSecurity = func() policy.Evaluator {
	e, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		panic("policy: the upstream Pod Security checks do not load: " + err.Error())
	}
	return e
}()

// namespaced kinds nano creates (cluster-scoped ones are exempt from the
// namespace rule).
var clusterScoped = []string{"Namespace", "StorageClass", "ClusterRole", "ClusterRoleBinding", "PersistentVolume",
	"CustomResourceDefinition", "PriorityClass", "ClusterIssuer", "IngressClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}

// databaseApps are the app labels of database pods, and databasePorts
// their ports (ClickHouse native/HTTP/TLS/interserver, Keeper, ZooKeeper,
// PostgreSQL).
var (
	databaseApps  = []string{"clickhouse", "clickhouse-keeper", "postgres", "keeper"}
	databasePorts = []float64{9000, 8123, 9440, 8443, 9009, 9181, 9234, 2181, 5432}
)

var kubernetesRules = []*Rule{
	{
		ID: "k8s-pod-security-restricted", Level: Mandatory,
		Description: "Every pod template meets the Pod Security Standards at level restricted.",
		Remediation: "Run as non-root with a seccomp profile RuntimeDefault, drop ALL capabilities, forbid privilege escalation, and use only restricted volume types.",
		Check: func(r Resource, _ Env) []string {
			var out []string
			for _, t := range podTemplates(r) {
				for _, res := range podSecurity.EvaluatePod(api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}, &t.meta, &t.spec) {
					if !res.Allowed {
						out = append(out, fmt.Sprintf("%s: %s (%s)", where(t.path), res.ForbiddenReason, res.ForbiddenDetail))
					}
				}
			}
			return out
		},
	},
	{
		ID: "k8s-resources-set", Level: Mandatory,
		Description: "Every container sets CPU and memory requests and limits.",
		Remediation: "Set resources.requests and resources.limits for cpu and memory on every container and init container.",
		Check: func(r Resource, _ Env) []string {
			var out []string
			for _, t := range podTemplates(r) {
				for _, c := range append(slices.Clone(t.spec.InitContainers), t.spec.Containers...) {
					var missing []string
					for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
						if _, ok := c.Resources.Requests[res]; !ok {
							missing = append(missing, "requests."+string(res))
						}
						if _, ok := c.Resources.Limits[res]; !ok {
							missing = append(missing, "limits."+string(res))
						}
					}
					if len(missing) > 0 {
						out = append(out, fmt.Sprintf("%s: container %q lacks %s", where(t.path), c.Name, strings.Join(missing, ", ")))
					}
				}
			}
			return out
		},
	},
	{
		ID: "k8s-no-latest-image", Level: Mandatory,
		Description: "Images are pinned: no latest tag and no untagged image.",
		Remediation: "Reference images by version tag or digest (nano:apiImage, nano:searchImage, nano:ingestImage, nano:webImage).",
		Check: func(r Resource, _ Env) []string {
			var out []string
			for _, t := range podTemplates(r) {
				for _, c := range append(slices.Clone(t.spec.InitContainers), t.spec.Containers...) {
					if !pinned(c.Image) {
						out = append(out, fmt.Sprintf("%s: container %q uses image %q", where(t.path), c.Name, c.Image))
					}
				}
			}
			return out
		},
	},
	{
		ID: "k8s-no-default-namespace", Level: Mandatory,
		Description: "No namespaced object lives in the default namespace (or in none).",
		Remediation: "Set metadata.namespace to the deployment's namespace (nano).",
		Check: func(r Resource, _ Env) []string {
			if !kubernetes(r) || slices.Contains(clusterScoped, kind(r)) || r.Type == "pulumi:providers:kubernetes" {
				return nil
			}
			ns := get(r.Props, "metadata", "namespace")
			if isUnknown(ns) {
				return nil
			}
			if s := str(ns); s == "" || s == "default" {
				return []string{fmt.Sprintf("%s %q is in the default namespace", kind(r), str(get(r.Props, "metadata", "name")))}
			}
			return nil
		},
	},
	{
		ID: "k8s-default-deny-network-policy", Level: Mandatory,
		Description: "Every namespace the stack creates has a default-deny NetworkPolicy (all pods, ingress and egress, no rules).",
		Remediation: "Add a NetworkPolicy with podSelector {}, policyTypes [Ingress, Egress] and no rules, then allow the flows you need.",
		CheckStack: func(rs []Resource, _ Env) []Finding {
			denied := map[string]bool{}
			for _, r := range rs {
				if r.Type != "kubernetes:networking.k8s.io/v1:NetworkPolicy" {
					continue
				}
				spec, _ := r.Props["spec"].(map[string]any)
				sel, _ := spec["podSelector"].(map[string]any)
				types := list(spec["policyTypes"])
				if len(asMap(get(sel, "matchLabels"))) == 0 && len(list(get(sel, "matchExpressions"))) == 0 &&
					slices.Contains(types, any("Ingress")) && slices.Contains(types, any("Egress")) &&
					len(list(spec["ingress"])) == 0 && len(list(spec["egress"])) == 0 {
					denied[str(get(r.Props, "metadata", "namespace"))] = true
				}
			}
			var out []Finding
			for _, r := range rs {
				if r.Type == "kubernetes:core/v1:Namespace" {
					if name := str(get(r.Props, "metadata", "name")); name != "" && !denied[name] {
						out = append(out, Finding{r.URN, fmt.Sprintf("namespace %q has no default-deny NetworkPolicy", name)})
					}
				}
			}
			return out
		},
	},
	{
		ID: "k8s-no-service-account-token", Level: Mandatory,
		Description: "Pods do not mount a service account token unless their service account is granted API access in the stack.",
		Remediation: "Set automountServiceAccountToken: false on the pod template, or bind the service account to the Role it needs.",
		CheckStack: func(rs []Resource, _ Env) []Finding {
			bound := map[string]bool{} // namespace/serviceaccount with a (Cluster)RoleBinding
			for _, r := range rs {
				if r.Type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding" || r.Type == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding" {
					for _, s := range list(r.Props["subjects"]) {
						if str(get(s, "kind")) == "ServiceAccount" {
							bound[str(get(s, "namespace"))+"/"+str(get(s, "name"))] = true
						}
					}
				}
			}
			var out []Finding
			for _, r := range rs {
				for _, t := range podTemplates(r) {
					sa := t.spec.ServiceAccountName
					if sa == "" {
						sa = "default"
					}
					ns := str(get(r.Props, "metadata", "namespace"))
					off := t.spec.AutomountServiceAccountToken != nil && !*t.spec.AutomountServiceAccountToken
					if !off && !bound[ns+"/"+sa] {
						out = append(out, Finding{r.URN, fmt.Sprintf("%s mounts the token of service account %q, which has no role binding", where(t.path), sa)})
					}
				}
			}
			return out
		},
	},
	{
		ID: "k8s-no-exposed-databases", Level: Mandatory,
		Description: "No database (ClickHouse, Keeper, PostgreSQL) is exposed by a LoadBalancer or NodePort Service.",
		Remediation: "Keep database Services ClusterIP; reach them from inside the cluster (or a private endpoint).",
		Check: func(r Resource, _ Env) []string {
			var out []string
			check := func(what string, spec any) {
				typ := str(get(spec, "type"))
				if typ != "LoadBalancer" && typ != "NodePort" {
					return
				}
				for k, v := range asMap(get(spec, "selector")) {
					if strings.HasSuffix(k, "app") || strings.HasSuffix(k, "/name") || strings.HasSuffix(k, "/component") {
						if slices.Contains(databaseApps, str(v)) {
							out = append(out, fmt.Sprintf("%s (%s) selects database pods %s=%s", what, typ, k, str(v)))
						}
					}
					if strings.HasPrefix(k, "clickhouse.altinity.com/") || strings.HasPrefix(k, "cnpg.io/") {
						out = append(out, fmt.Sprintf("%s (%s) selects operator-managed database pods (%s)", what, typ, k))
					}
				}
				for _, p := range list(get(spec, "ports")) {
					if n, ok := number(get(p, "port")); ok && slices.Contains(databasePorts, n) {
						out = append(out, fmt.Sprintf("%s (%s) publishes database port %v", what, typ, n))
					}
				}
			}
			switch {
			case r.Type == "kubernetes:core/v1:Service":
				check("Service "+str(get(r.Props, "metadata", "name")), r.Props["spec"])
			case kind(r) == "ClickHouseInstallation" || kind(r) == "ClickHouseKeeperInstallation":
				for i, t := range list(get(r.Props, "spec", "templates", "serviceTemplates")) {
					check(fmt.Sprintf("serviceTemplates[%d]", i), get(t, "spec"))
				}
			}
			return out
		},
	},
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// pinned reports whether an image names a tag other than latest, or a
// digest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	last := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	return ok && tag != "" && tag != "latest"
}
