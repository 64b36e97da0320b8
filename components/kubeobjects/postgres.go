package kubeobjects

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// postgresStorageGB is each instance's volume: metadata (rules, alerts,
// users, history), not events, so it does not scale with log volume.
const postgresStorageGB = 20

// postgresPool is the pool PostgreSQL runs on where pools are dedicated:
// on-demand capacity, never spot (a reclaimed node takes a database
// instance with it): the app pool when it is on-demand, else the first
// on-demand pool (Pro: the ClickHouse pool, whose taint it tolerates).
func (s Spec) postgresPool() string {
	if p, ok := s.Tier.Pool(tier.App); !ok || p.Scheduling == tier.OnDemand {
		return string(tier.App)
	}
	for _, p := range s.Tier.Pools {
		if p.Scheduling == tier.OnDemand {
			return string(p.Role)
		}
	}
	return string(tier.App)
}

// postgres returns the CloudNativePG Cluster: streaming replication and
// automatic failover come with instances > 1; with three instances one
// standby is synchronous, so a failover loses no committed transaction.
func (s Spec) postgres() []Object {
	n := s.Tier.Postgres.Instances
	nodeSelector, tolerations := s.placement(s.postgresPool())
	antiAffinity := "preferred"
	if s.Tier.HA {
		antiAffinity = "required"
	}
	affinity := map[string]any{
		"enablePodAntiAffinity": true,
		"podAntiAffinityType":   antiAffinity,
		"topologyKey":           "kubernetes.io/hostname",
	}
	if nodeSelector != nil {
		affinity["nodeSelector"] = toAny(nodeSelector)
	}
	if tolerations != nil {
		affinity["tolerations"] = typed("v1", "Pod", corev1.Pod{Spec: corev1.PodSpec{Tolerations: tolerations}})["spec"].(map[string]any)["tolerations"]
	}
	storage := map[string]any{"size": gi(postgresStorageGB)}
	if s.StorageClass != "" {
		storage["storageClass"] = s.StorageClass
	}
	res := typed("v1", "Pod", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: resources("250m", "512Mi", "1", "1Gi")}}}})
	pg := map[string]any{
		"parameters": map[string]any{"max_connections": "200", "shared_buffers": "128MB"},
	}
	if n >= 3 {
		pg["synchronous"] = map[string]any{"method": "any", "number": 1}
	}
	spec := map[string]any{
		"instances":             n,
		"imageName":             contract.CNPGPostgresImage,
		"primaryUpdateStrategy": "unsupervised",
		"enableSuperuserAccess": false,
		"storage":               storage,
		"bootstrap":             map[string]any{"initdb": map[string]any{"database": "nano", "owner": "nano"}},
		// ingest's and search's roles; the api (the owner, nano) grants them.
		"managed":    map[string]any{"roles": postgresRoles()},
		"affinity":   affinity,
		"resources":  res["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["resources"],
		"postgresql": pg,
	}
	cluster := Object{
		"apiVersion": "postgresql.cnpg.io/v1",
		"kind":       "Cluster",
		"metadata":   map[string]any{"name": cnpgName, "namespace": Namespace, "labels": toAny(labels("postgres"))},
		"spec":       spec,
	}
	if !s.Backups() {
		return []Object{cluster}
	}
	spec["backup"] = s.backupConfig()
	if from := s.PostgresArchive.RecoverFrom; from != "" {
		// A restore: the new cluster starts from the base backup and WAL
		// of server from (to RecoverTo), and archives under its own name.
		recovery := map[string]any{"source": recoverySource, "database": "nano", "owner": "nano"}
		if to := s.PostgresArchive.RecoverTo; to != "" {
			recovery["recoveryTarget"] = map[string]any{"targetTime": to}
		}
		spec["bootstrap"] = map[string]any{"recovery": recovery}
		store := s.objectStore()
		store["serverName"] = from
		delete(store, "data")
		spec["externalClusters"] = []any{map[string]any{"name": recoverySource, "barmanObjectStore": store}}
	}
	return []Object{cluster, {
		"apiVersion": "postgresql.cnpg.io/v1",
		"kind":       "ScheduledBackup",
		"metadata":   map[string]any{"name": cnpgName + "-daily", "namespace": Namespace, "labels": toAny(labels("postgres"))},
		"spec": map[string]any{
			// CloudNativePG schedules have a seconds field: daily at 03:00.
			"schedule":             backupSchedule,
			"cluster":              map[string]any{"name": cnpgName},
			"method":               "barmanObjectStore",
			"backupOwnerReference": "self",
			// A first base backup right away, so WAL archived from the
			// start has one to replay onto.
			"immediate": true,
		},
	}}
}

// backupSchedule is when the daily base backup runs (six fields, seconds
// first, as CloudNativePG's ScheduledBackup reads them).
const backupSchedule = "0 0 3 * * *"

// backupConfig is the Cluster's backup section: continuous WAL archiving
// and base backups with Barman Cloud to the deployment's bucket (the warm
// bucket's credentials, under the postgres/ prefix), kept for the tier's
// backup days. CloudNativePG >= 1.31 moves this to the Barman Cloud plugin.
func (s Spec) backupConfig() map[string]any {
	store := s.objectStore()
	store["serverName"] = s.postgresServerName()
	if s.Backup.ExpiredByBucket {
		// The writer cannot delete: the bucket's lifecycle rules expire
		// old backups, and a retentionPolicy's deletes would only fail.
		return map[string]any{"barmanObjectStore": store}
	}
	return map[string]any{"retentionPolicy": fmt.Sprintf("%dd", s.backupDays()), "barmanObjectStore": store}
}

// recoverySource names, in a restored Cluster, the archive it recovers from.
const recoverySource = "archive"

// objectStore is Barman Cloud's object store: the deployment's bucket
// under postgres/, with the bucket Secret's keys.
func (s Spec) objectStore() map[string]any {
	ref := func(key string) map[string]any { return map[string]any{"name": SecretWarm, "key": key} }
	return map[string]any{
		"destinationPath": s.Backup.DestinationPath,
		"endpointURL":     s.Backup.EndpointURL,
		"s3Credentials": map[string]any{
			"accessKeyId":     ref(WarmKeyBackupAccessKeyID),
			"secretAccessKey": ref(WarmKeyBackupSecretAccessKey),
			"region":          ref(WarmKeyBackupRegion),
		},
		"wal":  map[string]any{"compression": "gzip", "maxParallel": 2},
		"data": map[string]any{"compression": "gzip", "jobs": 2},
	}
}

// postgresServerName is the name the Cluster archives under.
func (s Spec) postgresServerName() string {
	if n := s.PostgresArchive.ServerName; n != "" {
		return n
	}
	return settings.DefaultPostgresServerName
}
