package kubeobjects

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

const (
	prometheusStorageGB = 20
	prometheusRetention = "15d"
	nobodyUID           = 65534
)

// prometheusConfig discovers nano's pods in the namespace and scrapes the
// seed's endpoints (api:3000, search:3002, ingest:9598, PostgreSQL's
// exporter on 9187) plus ClickHouse and Keeper, at the catalog's interval.
func (s Spec) prometheusConfig() string {
	interval := fmt.Sprintf("%ds", int(tier.ScrapeInterval.Seconds()))
	job := func(name, labelKey, labelValue string, p int) map[string]any {
		return map[string]any{
			"job_name": name,
			"kubernetes_sd_configs": []any{map[string]any{
				"role": "pod", "namespaces": map[string]any{"names": []any{Namespace}},
			}},
			"relabel_configs": []any{
				map[string]any{"action": "keep", "source_labels": []any{"__meta_kubernetes_pod_label_" + sanitize(labelKey)}, "regex": labelValue},
				map[string]any{"action": "keep", "source_labels": []any{"__meta_kubernetes_pod_container_port_number"}, "regex": strconv.Itoa(p)},
				map[string]any{"action": "replace", "source_labels": []any{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
			},
		}
	}
	jobs := []any{
		job("api", labelApp, "api", contract.Ports.API),
		job("search", labelApp, "search", contract.Ports.Search),
		job("web", labelApp, "web", contract.Ports.WebOps),
		job("ingest", labelApp, "ingest", contract.Ports.IngestMetrics),
	}
	if !s.Tier.Postgres.Managed {
		jobs = append(jobs, job("postgres", cnpgLabel, cnpgName, contract.Ports.PostgresExporter))
	}
	if !s.Tier.ClickHouse.Cloud {
		jobs = append(jobs, job("clickhouse", chiLabel, chiName, chMetrics), job("clickhouse-keeper", chkLabel, chkName, chMetrics))
	}
	b, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": interval, "evaluation_interval": interval, "external_labels": map[string]any{"nano_deployment": s.Deployment, "nano_tier": string(s.Tier.Name)}},
		"scrape_configs": jobs,
		"rule_files":     []string{contract.AlertRulesFile},
	})
	if err != nil {
		panic(fmt.Sprintf("platform: cannot encode the Prometheus config: %v", err))
	}
	return string(b)
}

// sanitize turns a label key into Prometheus' meta label suffix.
func sanitize(k string) string {
	out := []byte(k)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			out[i] = '_'
		}
	}
	return string(out)
}

// prometheus returns Prometheus with the namespace-scoped read access its
// pod discovery needs (the only workload that mounts a token).
func (s Spec) prometheus() []Object {
	lbls := labels("prometheus")
	nodeSelector, tolerations := s.placement(string(tier.App))
	container := corev1.Container{
		Name: "prometheus", Image: contract.PrometheusImage,
		Args: []string{
			"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
			"--storage.tsdb.retention.time=" + prometheusRetention,
		},
		Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: promPort, Protocol: corev1.ProtocolTCP}},
		Resources: resources("100m", "512Mi", "1", "2Gi"),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: "/etc/prometheus", ReadOnly: true},
			{Name: "data", MountPath: "/prometheus"},
		},
		ReadinessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/-/ready", Port: port(promPort)}}, PeriodSeconds: 10},
		LivenessProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/-/healthy", Port: port(promPort)}}, PeriodSeconds: 20},
		SecurityContext: restrictedContainer(),
	}
	container.SecurityContext.ReadOnlyRootFilesystem = ptr(true)
	pvcSpec := corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: qty(gi(prometheusStorageGB))}},
	}
	if s.StorageClass != "" {
		pvcSpec.StorageClassName = ptr(s.StorageClass)
	}
	return []Object{
		serviceAccount("prometheus", true),
		typed("rbac.authorization.k8s.io/v1", "Role", rbacv1.Role{
			ObjectMeta: meta("prometheus", lbls),
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "services", "endpoints"}, Verbs: []string{"get", "list", "watch"}}},
		}),
		typed("rbac.authorization.k8s.io/v1", "RoleBinding", rbacv1.RoleBinding{
			ObjectMeta: meta("prometheus", lbls),
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "prometheus"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: Namespace}},
		}),
		typed("v1", "ConfigMap", corev1.ConfigMap{ObjectMeta: meta("prometheus", lbls), Data: map[string]string{"prometheus.yml": s.prometheusConfig(), "alerts.yml": alertRules()}}),
		typed("v1", "PersistentVolumeClaim", corev1.PersistentVolumeClaim{ObjectMeta: meta("prometheus-data", lbls), Spec: pvcSpec}),
		typed("apps/v1", "Deployment", appsv1.Deployment{
			ObjectMeta: meta("prometheus", lbls),
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: "prometheus"}},
				// One pod owns the volume: stop the old one before starting the new.
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: lbls},
					Spec: corev1.PodSpec{
						ServiceAccountName:           "prometheus",
						AutomountServiceAccountToken: ptr(true),
						SecurityContext:              restrictedPod(nobodyUID),
						Containers:                   []corev1.Container{container},
						NodeSelector:                 nodeSelector,
						Tolerations:                  tolerations,
						Volumes: []corev1.Volume{
							{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "prometheus"}}}},
							{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "prometheus-data"}}},
						},
					},
				},
			},
		}),
		typed("v1", "Service", corev1.Service{
			ObjectMeta: meta("prometheus", lbls),
			Spec: corev1.ServiceSpec{Selector: map[string]string{labelApp: "prometheus"}, Ports: []corev1.ServicePort{
				{Name: "http", Port: promPort, TargetPort: port(promPort), Protocol: corev1.ProtocolTCP},
			}},
		}),
	}
}

// alertRules is nano's alert rules file (contract.AlertRules).
func alertRules() string {
	b, err := yaml.Marshal(contract.AlertRules(false))
	if err != nil {
		panic(fmt.Sprintf("platform: cannot encode the alert rules: %v", err))
	}
	return string(b)
}
