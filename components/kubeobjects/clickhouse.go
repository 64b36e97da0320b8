package kubeobjects

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Storage of the warm tier: tables with this policy keep parts on the hot
// (PVC) volume for hotDays, then move them to S3; free-space pressure moves
// them earlier (move_factor).
const (
	storagePolicy = "tiered"
	hotDays       = tier.WarmAfterDays
	// keeperStorageGB holds Keeper's logs and snapshots; it does not grow
	// with event volume.
	keeperStorageGB = 10
	// uids of the official images.
	clickhouseUID = 101
)

// clickhouseResources sizes ClickHouse pods: on a dedicated ClickHouse pool
// most of the node (leaving room for the kubelet and daemons), on a shared
// pool a modest request that leaves room for the rest of the platform.
func (s Spec) clickhouseResources() corev1.ResourceRequirements {
	if p, ok := s.Tier.Pool(tier.ClickHouse); ok {
		cpu := p.Machine.CPU - 1
		mem := p.Machine.MemoryGB * 3 / 4
		return resources(strconv.Itoa(cpu), gi(mem), strconv.Itoa(p.Machine.CPU), gi(mem))
	}
	return resources("500m", "2Gi", "2", "3Gi")
}

func (s Spec) pvc(name string, gb int) map[string]any {
	spec := map[string]any{
		"accessModes": []any{"ReadWriteOnce"},
		"resources":   map[string]any{"requests": map[string]any{"storage": gi(gb)}},
	}
	if s.StorageClass != "" {
		spec["storageClassName"] = s.StorageClass
	}
	return map[string]any{"name": name, "spec": spec}
}

// podTemplate is an operator pod template: a restricted pod running one
// container, spread over nodes, pinned to the ClickHouse pool where there is
// one.
func (s Spec) podTemplate(name, container, image string, lbls map[string]string, res corev1.ResourceRequirements, env []corev1.EnvVar, required bool) map[string]any {
	nodeSelector, tolerations := s.placement(string(tier.ClickHouse))
	c := corev1.Container{
		Name: container, Image: image, Resources: res, Env: env,
		SecurityContext: restrictedContainer(),
	}
	spec := corev1.PodSpec{
		AutomountServiceAccountToken: ptr(false),
		SecurityContext:              restrictedPod(clickhouseUID),
		Containers:                   []corev1.Container{c},
		Affinity:                     spread(lbls, required),
		NodeSelector:                 nodeSelector,
		Tolerations:                  tolerations,
	}
	o := typed("v1", "Pod", corev1.Pod{Spec: spec})
	return map[string]any{
		"name":     name,
		"metadata": map[string]any{"labels": toAny(labels(container))},
		"spec":     o["spec"],
	}
}

// clickhouse returns the ClickHouseInstallation, the Keeper installation,
// the clickhouse-search Service and their disruption budgets.
func (s Spec) clickhouse() []Object {
	lbls, keeperLabels := labels("clickhouse"), labels("clickhouse-keeper")
	return []Object{
		s.keeperInstallation(keeperLabels), s.clickhouseInstallation(lbls), searchReplicaService(),
		pdb("clickhouse", lbls, map[string]string{chiLabel: chiName}),
		pdb("clickhouse-keeper", keeperLabels, map[string]string{chkLabel: chkName}),
	}
}

// clickhouseInstallation is the Altinity operator's ClickHouseInstallation:
// the tier's shards and replicas, its users, Prometheus metrics, and the
// warm disk where the tier has one.
func (s Spec) clickhouseInstallation(lbls map[string]string) Object {
	env, files := s.warmStorage()
	return Object{
		"apiVersion": "clickhouse.altinity.com/v1",
		"kind":       "ClickHouseInstallation",
		"metadata":   map[string]any{"name": chiName, "namespace": Namespace, "labels": toAny(lbls)},
		"spec": map[string]any{
			"defaults": map[string]any{"templates": map[string]any{
				"podTemplate": "clickhouse", "dataVolumeClaimTemplate": "data", "serviceTemplate": "clickhouse",
			}},
			"configuration": s.clickhouseConfiguration(files),
			"templates": map[string]any{
				"podTemplates": []any{s.podTemplate("clickhouse", "clickhouse", contract.ClickHouseImage,
					map[string]string{chiLabel: chiName}, s.clickhouseResources(), env, s.Tier.HA)},
				"volumeClaimTemplates": []any{s.pvc("data", s.Tier.HotStoragePerPodGB())},
				"serviceTemplates": []any{map[string]any{
					"name": "clickhouse",
					"spec": map[string]any{"type": "ClusterIP", "ports": []any{
						map[string]any{"name": "native", "port": chNative},
						map[string]any{"name": "http", "port": chHTTP},
					}},
				}},
			},
		},
	}
}

// warmStorage is, on tiers with a warm tier, ClickHouse's environment from
// the warm Secret (the bucket's keys, endpoint and region) and the
// configuration file of its disk and policy.
func (s Spec) warmStorage() ([]corev1.EnvVar, map[string]any) {
	var env []corev1.EnvVar
	files := map[string]any{}
	if !s.Tier.ClickHouse.WarmS3 {
		return env, files
	}
	for _, kv := range [][2]string{
		{"AWS_ACCESS_KEY_ID", WarmKeyAccessKeyID}, {"AWS_SECRET_ACCESS_KEY", WarmKeySecretAccessKey},
		{warmEndpointEnv, WarmKeyEndpoint}, {warmRegionEnv, WarmKeyRegion},
	} {
		env = append(env, corev1.EnvVar{Name: kv[0], ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: SecretWarm}, Key: kv[1]},
		}})
	}
	files["config.d/nano-storage.xml"] = s.storageXML()
	return env, files
}

// clickhouseConfiguration is the installation's configuration: Keeper,
// users and profiles, metrics, the cluster's layout and files.
func (s Spec) clickhouseConfiguration(files map[string]any) map[string]any {
	ch := s.Tier.ClickHouse
	users := map[string]any{
		"nano/k8s_secret_password": Namespace + "/" + SecretClickHouse + "/password",
		"nano/networks/ip":         []any{"0.0.0.0/0", "::/0"}, // NetworkPolicies decide who connects
		"nano/profile":             "default",
	}
	profiles := map[string]any{}
	s.clickhouseUsers(users, profiles)
	configuration := map[string]any{
		"zookeeper": map[string]any{"nodes": []any{map[string]any{
			"host": "keeper-" + chkName + "." + Namespace + ".svc", "port": keeperPort,
		}}},
		// nano is the api's, the owner of the schema; ingest's and search's
		// users have their rights only (clickhouseUsers).
		"users":    users,
		"profiles": profiles,
		"settings": map[string]any{
			"prometheus/endpoint":             "/metrics",
			"prometheus/port":                 chMetrics,
			"prometheus/metrics":              true,
			"prometheus/events":               true,
			"prometheus/asynchronous_metrics": true,
		},
		"clusters": []any{map[string]any{
			"name":   chiCluster,
			"layout": map[string]any{"shardsCount": ch.Shards, "replicasCount": ch.Replicas},
		}},
	}
	if len(files) > 0 {
		configuration["files"] = files
	}
	return configuration
}

// keeperInstallation is the ClickHouseKeeperInstallation of the tier's
// Keeper nodes.
func (s Spec) keeperInstallation(keeperLabels map[string]string) Object {
	return Object{
		"apiVersion": "clickhouse-keeper.altinity.com/v1",
		"kind":       "ClickHouseKeeperInstallation",
		"metadata":   map[string]any{"name": chkName, "namespace": Namespace, "labels": toAny(keeperLabels)},
		"spec": map[string]any{
			"defaults": map[string]any{"templates": map[string]any{
				"podTemplate": "keeper", "dataVolumeClaimTemplate": "keeper-data",
			}},
			"configuration": map[string]any{
				"clusters": []any{map[string]any{"name": "keeper", "layout": map[string]any{"replicasCount": s.Tier.ClickHouse.KeeperNodes}}},
				"settings": map[string]any{
					"keeper_server/tcp_port":                              keeperPort,
					"keeper_server/raft_configuration/server/port":        raftPort,
					"keeper_server/coordination_settings/raft_logs_level": "warning",
					"prometheus/endpoint":                                 "/metrics",
					"prometheus/port":                                     chMetrics,
					"prometheus/metrics":                                  true,
				},
			},
			"templates": map[string]any{
				"podTemplates": []any{s.podTemplate("keeper", "clickhouse-keeper", contract.KeeperImage,
					map[string]string{chkLabel: chkName}, resources("100m", "256Mi", "1", "1Gi"), nil, s.Tier.HA)},
				"volumeClaimTemplates": []any{s.pvc("keeper-data", keeperStorageGB)},
			},
		},
	}
}

// searchReplicaService is the replica searches read from: replica index 0
// of every shard (the operator's label value), the first of each shard in
// the cluster's remote_servers, which search's reads over the Distributed
// table prefer (load_balancing 'in_order', services/search/runner), so a
// search reads every shard from its search replica while it is up.
func searchReplicaService() Object {
	searchReplica := "0"
	return typed("v1", "Service", corev1.Service{
		ObjectMeta: meta(SearchCHService, labels("clickhouse")),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{chiLabel: chiName, chiReplica: searchReplica},
			Ports: []corev1.ServicePort{
				{Name: "native", Port: chNative, TargetPort: port(chNative), Protocol: corev1.ProtocolTCP},
				{Name: "http", Port: chHTTP, TargetPort: port(chHTTP), Protocol: corev1.ProtocolTCP},
			},
		},
	})
}

// storageXML declares the warm S3 disk (behind a local cache) and the
// hot-then-warm policy. The bucket's endpoint and region come from the warm
// Secret through the environment: a bucket nano creates is only known once
// the cloud has made it.
func (s Spec) storageXML() string {
	return fmt.Sprintf(`<clickhouse>
  <storage_configuration>
    <disks>
      <warm_s3>
        <type>s3</type>
        <endpoint from_env="%s"/>
        <region from_env="%s"/>
        <use_environment_credentials>true</use_environment_credentials>
      </warm_s3>
      <warm_cache>
        <type>cache</type>
        <disk>warm_s3</disk>
        <path>/var/lib/clickhouse/disks/warm_cache/</path>
        <max_size>%dGi</max_size>
      </warm_cache>
    </disks>
    <policies>
      <%s>
        <volumes>
          <hot><disk>default</disk></hot>
          <warm><disk>warm_cache</disk></warm>
        </volumes>
        <move_factor>0.1</move_factor>
      </%s>
    </policies>
  </storage_configuration>
</clickhouse>
`, warmEndpointEnv, warmRegionEnv, max(1, s.Tier.HotStoragePerPodGB()/10), storagePolicy, storagePolicy)
}

// Keys of the warm Secret, and the environment variables ClickHouse reads
// them from.
const (
	WarmKeyEndpoint        = "endpoint"
	WarmKeyRegion          = "region"
	WarmKeyAccessKeyID     = "access-key-id"
	WarmKeySecretAccessKey = "secret-access-key"
	// WarmKeyBackupRegion is the region PostgreSQL's backups sign requests
	// for: the bucket's, or us-east-1 when it has none (S3-compatible
	// stores accept it).
	WarmKeyBackupRegion = "backup-region"
	// WarmKeyClickHouseBackups is the URL of ClickHouse's backups in the
	// bucket: contract.ClickHouseBackupPrefix under the deployment's.
	WarmKeyClickHouseBackups = "clickhouse-backups-url"
	// WarmKeyBackupAccessKeyID and WarmKeyBackupSecretAccessKey are the
	// keys backups are written with (the api's ClickHouse backups,
	// CloudNativePG's): the backup bucket's writer, which cannot delete,
	// where nano made one, else the warm keys. ClickHouse's server never
	// mounts them.
	WarmKeyBackupAccessKeyID     = "backup-access-key-id"
	WarmKeyBackupSecretAccessKey = "backup-secret-access-key"
	warmEndpointEnv              = "NANO_WARM_ENDPOINT"
	warmRegionEnv                = "NANO_WARM_REGION"
)

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
