package kubeobjects

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Alertmanager's objects: a StatefulSet (stable names for its members'
// gossip), the Service the api and Prometheus do not load-balance through
// (they address every member: alertmanagerPeers), and its configuration,
// the Secret the Platform component writes.
const (
	SecretAlertmanager    = "nano-alertmanager"
	AlertmanagerConfigKey = "alertmanager.yml"
	alertmanagerName      = "alertmanager"
	// alertmanagerPeers is the headless Service that names each member.
	alertmanagerPeers     = "alertmanager-cluster"
	alertmanagerStorageGB = 1
	// configHashAnnotation carries ConfigHash of the configuration on the
	// pod template, so a new configuration restarts the pods.
	configHashAnnotation = "nano.dev/alertmanager-config"
)

// ConfigHash identifies a configuration without revealing it.
func ConfigHash(config string) string {
	h := sha256.Sum256([]byte(config))
	return hex.EncodeToString(h[:8])
}

// AlertmanagerReplicas is one Alertmanager on single-replica tiers and a
// gossip cluster of 2 or 3 (the tier's replicas, at most 3) on HA tiers.
func (s Spec) AlertmanagerReplicas() int {
	if !s.Tier.HA {
		return 1
	}
	return min(max(s.Tier.Replicas, 2), 3)
}

// alertmanagerHosts are every member's host:port of the API, by its
// stable name.
func (s Spec) alertmanagerHosts() []string {
	var out []string
	for i := range s.AlertmanagerReplicas() {
		out = append(out, fmt.Sprintf("%s-%d.%s.%s.svc:%d", alertmanagerName, i, alertmanagerPeers, Namespace, contract.AlertmanagerPort))
	}
	return out
}

// alertmanagerURLs are the api's NANO_ALERTMANAGER_URLS: every member.
func (s Spec) alertmanagerURLs() string {
	out := ""
	for i, h := range s.alertmanagerHosts() {
		if i > 0 {
			out += ","
		}
		out += "http://" + h
	}
	return out
}

// alertmanager returns Alertmanager: its account, peers' and API
// Services, StatefulSet and PodDisruptionBudget.
func (s Spec) alertmanager() []Object {
	lbls := labels(alertmanagerName)
	selector := map[string]string{labelApp: alertmanagerName}
	return []Object{
		serviceAccount(alertmanagerName, false),
		typed("v1", "Service", corev1.Service{
			ObjectMeta: meta(alertmanagerPeers, lbls),
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone, Selector: selector,
				// Members are named before they are ready: they gossip to get ready.
				PublishNotReadyAddresses: true,
				Ports: []corev1.ServicePort{
					{Name: "http", Port: contract.AlertmanagerPort, TargetPort: port(contract.AlertmanagerPort), Protocol: corev1.ProtocolTCP},
					{Name: "mesh-tcp", Port: contract.AlertmanagerClusterPort, TargetPort: port(contract.AlertmanagerClusterPort), Protocol: corev1.ProtocolTCP},
					{Name: "mesh-udp", Port: contract.AlertmanagerClusterPort, TargetPort: port(contract.AlertmanagerClusterPort), Protocol: corev1.ProtocolUDP},
				},
			},
		}),
		typed("v1", "Service", corev1.Service{
			ObjectMeta: meta(alertmanagerName, lbls),
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector, Ports: []corev1.ServicePort{
				{Name: "http", Port: contract.AlertmanagerPort, TargetPort: port(contract.AlertmanagerPort), Protocol: corev1.ProtocolTCP},
			}},
		}),
		typed("apps/v1", "StatefulSet", s.alertmanagerSet(lbls, selector)),
		pdb(alertmanagerName, lbls, selector),
	}
}

// alertmanagerArgs are Alertmanager's flags: with more than one replica,
// members find each other by name and each advertises its pod address.
func alertmanagerArgs(replicas int) []string {
	args := []string{
		"--config.file=" + contract.AlertmanagerConfigFile,
		"--storage.path=/alertmanager",
		"--web.listen-address=:" + strconv.Itoa(contract.AlertmanagerPort),
	}
	if replicas <= 1 {
		return append(args, "--cluster.listen-address=")
	}
	args = append(args, "--cluster.listen-address=:"+strconv.Itoa(contract.AlertmanagerClusterPort),
		"--cluster.advertise-address=$(POD_IP):"+strconv.Itoa(contract.AlertmanagerClusterPort))
	for i := range replicas {
		args = append(args, fmt.Sprintf("--cluster.peer=%s-%d.%s.%s.svc:%d", alertmanagerName, i, alertmanagerPeers, Namespace, contract.AlertmanagerClusterPort))
	}
	return args
}

// alertmanagerContainer is the restricted, read-only Alertmanager
// container of a set of replicas.
func alertmanagerContainer(replicas int) corev1.Container {
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port(contract.AlertmanagerPort)}},
			PeriodSeconds: period, TimeoutSeconds: 3, FailureThreshold: 3}
	}
	container := corev1.Container{
		Name: alertmanagerName, Image: contract.AlertmanagerImage, Args: alertmanagerArgs(replicas),
		Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: contract.AlertmanagerPort, Protocol: corev1.ProtocolTCP},
			{Name: "mesh-tcp", ContainerPort: contract.AlertmanagerClusterPort, Protocol: corev1.ProtocolTCP},
			{Name: "mesh-udp", ContainerPort: contract.AlertmanagerClusterPort, Protocol: corev1.ProtocolUDP},
		},
		Resources: resources("50m", "64Mi", "500m", "256Mi"),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: "/etc/alertmanager", ReadOnly: true},
			{Name: "data", MountPath: "/alertmanager"},
		},
		ReadinessProbe:  probe("/-/ready", 5),
		LivenessProbe:   probe("/-/healthy", 10),
		SecurityContext: restrictedContainer(),
	}
	container.SecurityContext.ReadOnlyRootFilesystem = ptr(true)
	return container
}

// alertmanagerSet is Alertmanager's StatefulSet: its members spread over
// the app pool's nodes, its configuration from the Secret, its silences
// and notification log on a volume each.
func (s Spec) alertmanagerSet(lbls, selector map[string]string) appsv1.StatefulSet {
	replicas := s.AlertmanagerReplicas()
	nodeSelector, tolerations := s.placement(string(tier.App))
	var spreadRules []corev1.TopologySpreadConstraint
	if s.Tier.HA {
		// One member per node while there are nodes enough; a
		// StatefulSet replaces its pods one at a time (no surge pod), so
		// all its pods count.
		spreadRules = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
		}}
	}
	pvcSpec := corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: qty(gi(alertmanagerStorageGB))}},
	}
	if s.StorageClass != "" {
		pvcSpec.StorageClassName = ptr(s.StorageClass)
	}
	return appsv1.StatefulSet{
		ObjectMeta: meta(alertmanagerName, lbls),
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr(int32(replicas)),
			ServiceName: alertmanagerPeers,
			Selector:    &metav1.LabelSelector{MatchLabels: selector},
			// Members start together (each finds the others by name).
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls, Annotations: map[string]string{configHashAnnotation: s.AlertmanagerConfigHash}},
				Spec: corev1.PodSpec{
					ServiceAccountName:           alertmanagerName,
					AutomountServiceAccountToken: ptr(false),
					SecurityContext:              restrictedPod(nobodyUID),
					Containers:                   []corev1.Container{alertmanagerContainer(replicas)},
					Affinity:                     spread(selector, false),
					TopologySpreadConstraints:    spreadRules,
					NodeSelector:                 nodeSelector,
					Tolerations:                  tolerations,
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
						SecretName: SecretAlertmanager, DefaultMode: ptr(int32(0o440)),
					}}}},
				},
			},
			// Silences and the notification log outlive a restart.
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: lbls}, Spec: pvcSpec}},
		},
	}
}
