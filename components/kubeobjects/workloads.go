package kubeobjects

import (
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// The uid nano's service images run as (distroless "nonroot").
const serviceUID = 65532

// service describes one of nano's workloads.
type service struct {
	name   string
	image  string
	pool   tier.PoolRole
	listen int
	// health is the port serving /healthz and /readyz.
	health int
	ports  []corev1.ContainerPort
	// secrets mounted as files: secret name -> mount directory name.
	secrets map[string]string
	env     map[string]string
	// secretEnv are variables set from a Secret's key: name -> secret, key.
	secretEnv map[string][2]string
	resources corev1.ResourceRequirements
}

// services are nano's workloads: api, search, web and ingest, each with
// its own logins.
func (s Spec) services() []service {
	pgSecret := cnpgName + "-app"
	if s.Postgres != nil {
		pgSecret = SecretPostgresManaged
	}
	common := s.commonEnv()
	dbSecrets := map[string]string{pgSecret: "postgres", SecretClickHouse: "clickhouse"}
	search := maps.Clone(common)
	search[contract.ClickHouseUser] = searchLogin.role
	if !s.Tier.ClickHouse.Cloud {
		// Searches read from the dedicated replica (seed: Search Service).
		search[contract.ClickHouseAddr] = SearchCHService + "." + Namespace + ".svc:" + strconv.Itoa(chNative)
	}
	searchSecrets := map[string]string{searchLogin.postgresSecret: "postgres", searchLogin.clickhouseSecret: "clickhouse"}
	ingestSecrets := map[string]string{SecretIngest: "ingest", SecretNativeTLS: "native-tls",
		ingestLogin.postgresSecret: "postgres", ingestLogin.clickhouseSecret: "clickhouse"}
	return []service{
		s.apiService(common, dbSecrets),
		{name: "search", image: s.Images.Search, pool: tier.App, listen: contract.Ports.Search, health: contract.Ports.Search,
			ports: []corev1.ContainerPort{namedPort("http", contract.Ports.Search)}, secrets: searchSecrets, env: search,
			resources: resources("250m", "512Mi", "2", "2Gi")},
		// The UI serves files from its binary: no database, no secrets.
		{name: "web", image: s.Images.Web, pool: tier.App, listen: contract.Ports.Web, health: contract.Ports.WebOps,
			ports: []corev1.ContainerPort{namedPort("http", contract.Ports.Web), namedPort("metrics", contract.Ports.WebOps)}, env: map[string]string{},
			resources: resources("50m", "64Mi", "500m", "128Mi")},
		{name: "ingest", image: s.Images.Ingest, pool: tier.Ingest, listen: contract.Ports.IngestHTTP, health: contract.Ports.IngestMetrics,
			ports: []corev1.ContainerPort{
				namedPort("http", contract.Ports.IngestHTTP), namedPort("hec", contract.Ports.IngestHEC),
				namedPort("native", contract.Ports.IngestNative), namedPort("metrics", contract.Ports.IngestMetrics),
				namedPort("otlp", contract.Ports.IngestOTLP),
				namedPort("syslog-tls", contract.Ports.IngestSyslogTLS),
			}, secrets: ingestSecrets, env: s.ingestEnv(common),
			resources: s.ingestResources()},
	}
}

func namedPort(name string, p int) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: int32(p), Protocol: corev1.ProtocolTCP}
}

// withCommon is m's entries and common's (common's win).
func withCommon(m, common map[string]string) map[string]string {
	maps.Copy(m, common)
	return m
}

// commonEnv is what every service reads: its own logins at the same paths
// (each mounts its own Secrets there: docs/security/database-roles.md), and how to
// reach ClickHouse.
func (s Spec) commonEnv() map[string]string {
	common := map[string]string{
		contract.Deployment:             s.Deployment,
		contract.PostgresURLFile:        "/etc/nano/secrets/postgres/uri",
		contract.ClickHouseAddr:         s.clickhouseAddr(),
		contract.ClickHouseDatabase:     "nano",
		contract.ClickHousePasswordFile: "/etc/nano/secrets/clickhouse/password",
		contract.RetentionDays:          strconv.Itoa(s.Tier.Retention.Days),
	}
	if !s.Tier.ClickHouse.Cloud {
		common[contract.ClickHouseCluster] = chiCluster
	} else {
		// ClickHouse Cloud serves the native protocol only over TLS; its
		// certificates chain to public roots (the images' CA bundle).
		common[contract.ClickHouseTLS] = "true"
	}
	if s.Tier.ClickHouse.WarmS3 {
		common[contract.ClickHouseStoragePolicy] = storagePolicy
		common[contract.ClickHouseWarmAfterDays] = strconv.Itoa(hotDays)
	}
	return common
}

// ingestEnv is ingest's environment: its tokens, and TLS on every
// shipper's port.
func (s Spec) ingestEnv(common map[string]string) map[string]string {
	env := withCommon(map[string]string{
		contract.IngestTokenFile: "/etc/nano/secrets/ingest/ingest-token",
		contract.HECTokenFile:    "/etc/nano/secrets/ingest/hec-token",
		contract.NativeTLSCert:   "/etc/nano/secrets/native-tls/tls.crt",
		contract.NativeTLSKey:    "/etc/nano/secrets/native-tls/tls.key",
		contract.NativeClientCA:  "/etc/nano/secrets/native-tls/ca.crt",
		// The shippers' HTTP ports over TLS too: the load balancer passes
		// TCP through, so nothing else would encrypt tokens and logs. The
		// certificate names the domain and the load balancer's address.
		contract.IngestTLSCert:  "/etc/nano/secrets/native-tls/tls.crt",
		contract.IngestTLSKey:   "/etc/nano/secrets/native-tls/tls.key",
		contract.ClickHouseUser: ingestLogin.role,

		// Syslog over TLS (6514) with the same certificate and CA.
		contract.SyslogTLSCert:  "/etc/nano/secrets/native-tls/tls.crt",
		contract.SyslogTLSKey:   "/etc/nano/secrets/native-tls/tls.key",
		contract.SyslogClientCA: "/etc/nano/secrets/native-tls/ca.crt",
	}, common)
	s.ingestPolicy(env)
	return env
}

// apiService is the api: ClickHouse's owner, the services' roles'
// grantor, Alertmanager's client, and with a bucket ClickHouse's backups.
func (s Spec) apiService(common, dbSecrets map[string]string) service {
	apiEnv := withCommon(map[string]string{contract.APICredentialsKeyFile: "/etc/nano/secrets/api-credentials/key",
		contract.APIAdminTokenFile:  "/etc/nano/secrets/api-credentials/admin-token",
		contract.PostgresIngestRole: ingestLogin.role, contract.PostgresSearchRole: searchLogin.role,
		// Detections' alerts go to every Alertmanager; their links to the UI.
		contract.AlertmanagerURLs: s.alertmanagerURLs()}, common)
	s.diskPolicy(apiEnv)
	if s.Domain != "" {
		apiEnv[contract.WebURL] = "https://" + s.Domain
	}
	apiSecrets := withCommon(map[string]string{SecretAPICredentials: "api-credentials"}, dbSecrets)
	s.signIn(apiEnv, apiSecrets)
	// The api is ClickHouse's owner user, named in its Secret (nano in the
	// cluster, the configured user on ClickHouse Cloud).
	apiSecretEnv := map[string][2]string{contract.ClickHouseUser: {SecretClickHouse, "username"}}
	if s.HasBucket() && !s.Tier.ClickHouse.Cloud {
		// The api's scheduler backs ClickHouse up under the bucket's
		// deployment prefix, with its keys (ClickHouse Cloud backs itself up).
		const warm = "/etc/nano/secrets/warm/"
		apiSecrets[SecretWarm] = "warm"
		maps.Copy(apiEnv, map[string]string{
			contract.BackupURLFile: warm + WarmKeyClickHouseBackups, contract.BackupRegionFile: warm + WarmKeyBackupRegion,
			contract.BackupAccessKeyIDFile: warm + WarmKeyBackupAccessKeyID, contract.BackupSecretAccessKeyFile: warm + WarmKeyBackupSecretAccessKey,
		})
	}
	return service{name: "api", image: s.Images.API, pool: tier.App, listen: contract.Ports.API, health: contract.Ports.API,
		ports: []corev1.ContainerPort{namedPort("http", contract.Ports.API)}, secrets: apiSecrets, env: apiEnv, secretEnv: apiSecretEnv,
		resources: resources("250m", "512Mi", "1", "1Gi")}
}

// ingestResources are ingest's requests and limits: the band's sizing on
// a volume-sized pool, else the default.
func (s Spec) ingestResources() corev1.ResourceRequirements {
	if s.IngestPool != nil {
		return ingestScale(*s.IngestPool).Resources
	}
	return resources("250m", "512Mi", "1", "1Gi")
}

func (s Spec) clickhouseAddr() string {
	if s.ClickHouse != nil {
		return s.ClickHouse.Host + ":" + strconv.Itoa(s.ClickHouse.Port)
	}
	return "clickhouse-" + chiName + "." + Namespace + ".svc:" + strconv.Itoa(chNative)
}

// namespace is nano's namespace, enforcing Pod Security "restricted".
func namespace() Object {
	lbls := labels("nano")
	for _, mode := range []string{"enforce", "audit", "warn"} {
		lbls["pod-security.kubernetes.io/"+mode] = "restricted"
		lbls["pod-security.kubernetes.io/"+mode+"-version"] = "latest"
	}
	return typed("v1", "Namespace", corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: lbls}})
}

func serviceAccount(name string, token bool) Object {
	return typed("v1", "ServiceAccount", corev1.ServiceAccount{
		ObjectMeta: meta(name, labels(name)), AutomountServiceAccountToken: ptr(token),
	})
}

// workload returns a service's ServiceAccount, Deployment, Service and
// PodDisruptionBudget.
func (s Spec) workload(svc service) []Object {
	lbls := labels(svc.name)
	deployment, autoscaler := s.deployment(svc, lbls)
	var svcPorts []corev1.ServicePort
	for _, p := range svc.ports {
		svcPorts = append(svcPorts, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, TargetPort: port(int(p.ContainerPort)), Protocol: corev1.ProtocolTCP})
	}
	return append([]Object{
		serviceAccount(svc.name, false),
		typed("apps/v1", "Deployment", deployment),
		typed("v1", "Service", corev1.Service{
			ObjectMeta: meta(svc.name, lbls),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{labelApp: svc.name}, Ports: svcPorts},
		}),
		pdb(svc.name, lbls, map[string]string{labelApp: svc.name}),
	}, autoscaler...)
}

// envVars are the service's environment: its values, then those from
// Secrets, its listen address and the Go runtime's memory limit.
func (svc service) envVars() []corev1.EnvVar {
	var envs []corev1.EnvVar
	for _, k := range sortedKeys(svc.env) {
		envs = append(envs, corev1.EnvVar{Name: k, Value: svc.env[k]})
	}
	for _, k := range sortedKeys(svc.secretEnv) {
		ref := svc.secretEnv[k]
		envs = append(envs, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref[0]}, Key: ref[1]}}})
	}
	envs = append(envs, corev1.EnvVar{Name: contract.ListenAddr, Value: ":" + strconv.Itoa(svc.listen)})
	if lim, ok := svc.resources.Limits[corev1.ResourceMemory]; ok {
		// The Go runtime collects harder as its heap nears 90% of the
		// container's limit, rather than being killed at the limit.
		envs = append(envs, corev1.EnvVar{Name: "GOMEMLIMIT", Value: strconv.FormatInt(lim.Value()*9/10, 10)})
	}
	return envs
}

// container is the service's restricted, read-only container with a
// writable /tmp and its Secrets mounted under /etc/nano/secrets, and the
// pod's volumes it mounts.
func (svc service) container() (corev1.Container, []corev1.Volume) {
	volumes := []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mounts := []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}
	for _, secret := range sortedKeys(svc.secrets) {
		dir := svc.secrets[secret]
		volumes = append(volumes, corev1.Volume{Name: dir, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: ptr(int32(0o440))},
		}})
		mounts = append(mounts, corev1.VolumeMount{Name: dir, MountPath: "/etc/nano/secrets/" + dir, ReadOnly: true})
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port(svc.health)}},
			PeriodSeconds: period, TimeoutSeconds: 3, FailureThreshold: 3,
		}
	}
	container := corev1.Container{
		Name: svc.name, Image: svc.image, Ports: svc.ports, Env: svc.envVars(), Resources: svc.resources,
		VolumeMounts:    mounts,
		ReadinessProbe:  probe(contract.ReadyPath, 5),
		LivenessProbe:   probe(contract.HealthPath, 10),
		StartupProbe:    &corev1.Probe{ProbeHandler: probe(contract.HealthPath, 2).ProbeHandler, PeriodSeconds: 2, FailureThreshold: 60},
		SecurityContext: restrictedContainer(),
	}
	container.SecurityContext.ReadOnlyRootFilesystem = ptr(true)
	return container, volumes
}

// deployment is the service's Deployment, and ingest's autoscaler on a
// volume-sized pool.
func (s Spec) deployment(svc service, lbls map[string]string) (appsv1.Deployment, []Object) {
	container, volumes := svc.container()
	nodeSelector, tolerations := s.placement(string(svc.pool))
	replicas := ptr(int32(s.Tier.Replicas))
	// Preferred anti-affinity, and on HA tiers an even spread that admits
	// a pod more than nodes (evenSpread): every count schedules and every
	// rolling update (maxSurge 1, maxUnavailable 0) can place its surge pod,
	// except where the pods fill their pool (below).
	affinity := spread(map[string]string{labelApp: svc.name}, false)
	var spreadRules []corev1.TopologySpreadConstraint
	if s.Tier.HA {
		spreadRules = evenSpread(map[string]string{labelApp: svc.name})
	}
	var autoscaler []Object
	rollout := &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(port(0)), MaxSurge: ptr(port(1))}
	if svc.name == "ingest" && s.IngestPool != nil {
		// The autoscaler owns the count (a replicas field here would reset
		// it at every update).
		replicas = nil
		autoscaler = append(autoscaler, ingestAutoscaler(ingestScale(*s.IngestPool)))
		// Its pods fill their pool (one 2-CPU pod per 4-CPU node at the
		// least), so a surge pod has nowhere to go and such a rollout never
		// ends (the Kubernetes rig showed it on Enterprise): replace one pod
		// at a time instead, as the PodDisruptionBudget allows.
		rollout = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(port(1)), MaxSurge: ptr(port(0))}
	}
	return appsv1.Deployment{
		ObjectMeta: meta(svc.name, lbls),
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: svc.name}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: rollout},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					ServiceAccountName:           svc.name,
					AutomountServiceAccountToken: ptr(false),
					SecurityContext:              restrictedPod(serviceUID),
					Containers:                   []corev1.Container{container},
					Volumes:                      volumes,
					Affinity:                     affinity,
					TopologySpreadConstraints:    spreadRules,
					NodeSelector:                 nodeSelector,
					Tolerations:                  tolerations,
				},
			},
		},
	}, autoscaler
}

// pdb allows one voluntary disruption at a time: single-replica tiers can
// still drain a node; HA tiers keep all but one replica serving.
func pdb(name string, lbls, selector map[string]string) Object {
	return typed("policy/v1", "PodDisruptionBudget", policyv1.PodDisruptionBudget{
		ObjectMeta: meta(name, lbls),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr(port(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selector},
		},
	})
}

// IngestPublicService is the LoadBalancer Service of ingest's ports.
const IngestPublicService = "ingest-public"

// exposure publishes ingest's ports through a LoadBalancer and, with a
// domain, api, search and the web UI (every other path) through an HTTPS
// Ingress.
func (s Spec) exposure() []Object {
	lbls := labels("ingest")
	var ports []corev1.ServicePort
	for _, p := range []struct {
		name string
		n    int
	}{{"http", contract.Ports.IngestHTTP}, {"hec", contract.Ports.IngestHEC}, {"native", contract.Ports.IngestNative}, {"otlp", contract.Ports.IngestOTLP},
		{"syslog-tls", contract.Ports.IngestSyslogTLS}} {
		ports = append(ports, corev1.ServicePort{Name: p.name, Port: int32(p.n), TargetPort: port(p.n), Protocol: corev1.ProtocolTCP})
	}
	out := []Object{typed("v1", "Service", corev1.Service{
		ObjectMeta: meta(IngestPublicService, lbls),
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{labelApp: "ingest"}, Ports: ports,
			// Keep client addresses for per-source rate limits and audit.
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
		},
	})}
	if s.Domain == "" {
		return out
	}
	prefix := networkingv1.PathTypePrefix
	// The services answer under these prefixes, which the rule passes on
	// unstripped (servicemain.Prefixed).
	backend := func(path, name string, p int) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: path, PathType: &prefix, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: int32(p)}},
		}}
	}
	class := s.ingressClass()
	https := networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "nano", Namespace: Namespace, Labels: labels("nano"),
			Annotations: s.httpsAnnotations()},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{s.Domain}, SecretName: "nano-tls"}},
			Rules: []networkingv1.IngressRule{{Host: s.Domain, IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					backend(contract.APIPrefix, "api", contract.Ports.API), backend(contract.SearchPrefix, "search", contract.Ports.Search),
					// The longest prefix wins: / is the UI's, the rest.
					backend("/", "web", contract.Ports.Web),
				}},
			}}},
		},
	}
	// HTTP redirects to HTTPS, and HTTPS answers carry HSTS (https.go).
	return append(append(out, typed("networking.k8s.io/v1", "Ingress", https), s.clusterIssuer()), s.httpRedirect(https)...)
}

// ClusterIssuer is cert-manager's issuer of the Ingress's certificate.
const ClusterIssuer = "letsencrypt"

// acmeSolverLabel marks the pods cert-manager starts to answer HTTP-01
// challenges (in the Ingress's namespace, so the network policies let the
// ingress controller reach them).
const (
	acmeSolverLabel = "acme.cert-manager.io/http01-solver"
	acmeSolverPort  = 8089
)

// clusterIssuer is Let's Encrypt through ACME HTTP-01 answered via the
// platform's ingress class.
func (s Spec) clusterIssuer() Object {
	return Object{
		"apiVersion": "cert-manager.io/v1",
		"kind":       "ClusterIssuer",
		"metadata":   map[string]any{"name": ClusterIssuer, "labels": toAny(labels("nano"))},
		"spec": map[string]any{
			"acme": map[string]any{
				"server":              "https://acme-v02.api.letsencrypt.org/directory",
				"privateKeySecretRef": map[string]any{"name": ClusterIssuer + "-account"},
				"solvers": []any{map[string]any{
					"http01": map[string]any{"ingress": map[string]any{"ingressClassName": s.ingressClass()}},
				}},
			},
		},
	}
}
