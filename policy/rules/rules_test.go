package rules

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// obj parses a JSON literal.
func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return m
}

const nanoLabels = `"labels": {"nano-tier": "team", "nano-deployment": "d", "managed-by": "pulumi", "app": "api"}`

// goodPod is a pod spec that meets every pod rule.
const goodPod = `{"automountServiceAccountToken": false,
  "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
  "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "api"}}}}]}},
  "containers": [{"name": "api", "image": "ghcr.io/nanosiem/api:0.1.0",
    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true}}]}`

func deployment(t *testing.T, replicas int, pod string) Resource {
	return Resource{URN: "urn:d", Type: "kubernetes:apps/v1:Deployment", Props: obj(t, `{"metadata": {"name": "api", "namespace": "nano", `+nanoLabels+`},
  "spec": {"replicas": `+itoa(replicas)+`, "template": {"metadata": {"labels": {"app": "api"}}, "spec": `+pod+`}}}`)}
}

// autoscaled is an api Deployment whose count an autoscaler with minimum
// min owns (no replicas field).
func autoscaled(t *testing.T, min int, pod string) []Resource {
	d := Resource{URN: "urn:d", Type: "kubernetes:apps/v1:Deployment", Props: obj(t, `{"metadata": {"name": "api", "namespace": "nano", `+nanoLabels+`},
  "spec": {"template": {"metadata": {"labels": {"app": "api"}}, "spec": `+pod+`}}}`)}
	h := Resource{URN: "urn:hpa", Type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", Props: obj(t, `{"metadata": {"name": "api", "namespace": "nano", `+nanoLabels+`},
  "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}, "minReplicas": `+itoa(min)+`, "maxReplicas": 10}}`)}
	return []Resource{d, h}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func namespace(t *testing.T) Resource {
	return Resource{URN: "urn:ns", Type: "kubernetes:core/v1:Namespace", Props: obj(t, `{"metadata": {"name": "nano", `+nanoLabels+`}}`)}
}

func netpol(t *testing.T, spec string) Resource {
	return Resource{URN: "urn:np", Type: "kubernetes:networking.k8s.io/v1:NetworkPolicy", Props: obj(t, `{"metadata": {"name": "deny", "namespace": "nano", `+nanoLabels+`}, "spec": `+spec+`}`)}
}

func pdb(t *testing.T, app string) Resource {
	return Resource{URN: "urn:pdb", Type: "kubernetes:policy/v1:PodDisruptionBudget", Props: obj(t, `{"metadata": {"name": "api", "namespace": "nano", `+nanoLabels+`}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "`+app+`"}}}}`)}
}

func rule(t *testing.T, id string) *Rule {
	for _, r := range All() {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no rule %s", id)
	return nil
}

// Each rule: a compliant stack passes it, each violating variant fails it
// with a message containing the expected words.
func TestEveryRuleHasAPassingAndAFailingExample(t *testing.T) {
	t.Parallel()
	team := EnvFor(nil, "team")
	cases := []struct {
		rule string
		pass []Resource
		fail map[string][]Resource // expected message part -> resources
		env  Env
	}{
		{"k8s-pod-security-restricted", []Resource{deployment(t, 2, goodPod)}, map[string][]Resource{
			"runAsNonRoot": {deployment(t, 2, strings.Replace(goodPod, `"runAsNonRoot": true}}]`, `"runAsNonRoot": false}}]`, 1))},
			"privileged":   {deployment(t, 2, strings.Replace(goodPod, `"allowPrivilegeEscalation": false`, `"privileged": true, "allowPrivilegeEscalation": false`, 1))},
			"hostPath":     {deployment(t, 2, strings.Replace(goodPod, `"containers"`, `"volumes": [{"name": "h", "hostPath": {"path": "/"}}], "containers"`, 1))},
		}, team},
		{"k8s-resources-set", []Resource{deployment(t, 2, goodPod)}, map[string][]Resource{
			"limits.memory": {deployment(t, 2, strings.Replace(goodPod, `, "memory": "512Mi"}`, `}`, 1))},
		}, team},
		{"k8s-no-latest-image", []Resource{deployment(t, 2, goodPod)}, map[string][]Resource{
			":latest":                {deployment(t, 2, strings.Replace(goodPod, "api:0.1.0", "api:latest", 1))},
			`"ghcr.io/nanosiem/api"`: {deployment(t, 2, strings.Replace(goodPod, "api:0.1.0", "api", 1))},
		}, team},
		{"k8s-no-default-namespace", []Resource{deployment(t, 2, goodPod), namespace(t)}, map[string][]Resource{
			"default namespace": {{URN: "u", Type: "kubernetes:core/v1:ConfigMap", Props: obj(t, `{"metadata": {"name": "c", "namespace": "default"}}`)},
				{URN: "u", Type: "kubernetes:core/v1:Service", Props: obj(t, `{"metadata": {"name": "s"}}`)}},
		}, team},
		{"k8s-default-deny-network-policy", []Resource{namespace(t), netpol(t, `{"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}`)}, map[string][]Resource{
			"no default-deny": {namespace(t), netpol(t, `{"podSelector": {}, "policyTypes": ["Ingress"]}`)},
			`"nano" has no`:   {namespace(t), netpol(t, `{"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}]}`)},
		}, team},
		{"k8s-no-service-account-token", []Resource{deployment(t, 2, goodPod),
			deployment(t, 1, strings.Replace(goodPod, `"automountServiceAccountToken": false`, `"serviceAccountName": "prometheus", "automountServiceAccountToken": true`, 1)),
			{URN: "rb", Type: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", Props: obj(t, `{"metadata": {"name": "p", "namespace": "nano"}, "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "nano"}]}`)},
		}, map[string][]Resource{
			`service account "default"`: {deployment(t, 2, strings.Replace(goodPod, `"automountServiceAccountToken": false,`, ``, 1))},
		}, team},
		{"k8s-no-exposed-databases", []Resource{{URN: "s", Type: "kubernetes:core/v1:Service", Props: obj(t, `{"metadata": {"name": "ingest"}, "spec": {"type": "LoadBalancer", "selector": {"app": "ingest"}, "ports": [{"port": 8080}]}}`)},
			{URN: "s2", Type: "kubernetes:core/v1:Service", Props: obj(t, `{"metadata": {"name": "clickhouse"}, "spec": {"selector": {"app": "clickhouse"}, "ports": [{"port": 9000}]}}`)}}, map[string][]Resource{
			"selects database pods": {{URN: "s", Type: "kubernetes:core/v1:Service", Props: obj(t, `{"metadata": {"name": "pg"}, "spec": {"type": "NodePort", "selector": {"app.kubernetes.io/name": "postgres"}}}`)}},
			"database port 9000":    {{URN: "s", Type: "kubernetes:core/v1:Service", Props: obj(t, `{"metadata": {"name": "x"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 9000}]}}`)}},
			"serviceTemplates[0]":   {{URN: "c", Type: "kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation", Props: obj(t, `{"spec": {"templates": {"serviceTemplates": [{"name": "lb", "spec": {"type": "LoadBalancer", "ports": [{"port": 8123}]}}]}}}`)}},
		}, team},
		{"tier-ha-workloads", []Resource{deployment(t, 2, goodPod), pdb(t, "api")}, map[string][]Resource{
			"at least 2":             {deployment(t, 1, goodPod), pdb(t, "api")},
			"no pod anti-affinity":   {deployment(t, 2, strings.Replace(goodPod, `"podAntiAffinity"`, `"podAffinity"`, 1)), pdb(t, "api")},
			"no PodDisruptionBudget": {deployment(t, 2, goodPod), pdb(t, "search")},
		}, team},
		{"tier-ha-workloads", append(autoscaled(t, 3, goodPod), pdb(t, "api")), map[string][]Resource{
			"at least 2": append(autoscaled(t, 1, goodPod), pdb(t, "api")),
		}, team},
		{"tier-clickhouse-replication", []Resource{
			{URN: "c", Type: "kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation", Props: obj(t, `{"spec": {"configuration": {"clusters": [{"name": "nano", "layout": {"shardsCount": 1, "replicasCount": 2}}]}}}`)},
			{URN: "k", Type: "kubernetes:clickhouse-keeper.altinity.com/v1:ClickHouseKeeperInstallation", Props: obj(t, `{"spec": {"configuration": {"clusters": [{"name": "keeper", "layout": {"replicasCount": 3}}]}}}`)},
		}, map[string][]Resource{
			"at least 2":    {{URN: "c", Type: "kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation", Props: obj(t, `{"spec": {"configuration": {"clusters": [{"name": "nano", "layout": {"shardsCount": 1, "replicasCount": 1}}]}}}`)}},
			"tier is 1 x 2": {{URN: "c", Type: "kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation", Props: obj(t, `{"spec": {"configuration": {"clusters": [{"name": "nano", "layout": {"shardsCount": 2, "replicasCount": 2}}]}}}`)}},
			"needs 3":       {{URN: "k", Type: "kubernetes:clickhouse-keeper.altinity.com/v1:ClickHouseKeeperInstallation", Props: obj(t, `{"spec": {"configuration": {"clusters": [{"name": "keeper", "layout": {"replicasCount": 1}}]}}}`)}},
		}, team},
		{"tier-postgres-instances", []Resource{{URN: "p", Type: "kubernetes:postgresql.cnpg.io/v1:Cluster", Props: obj(t, `{"spec": {"instances": 2}}`)}}, map[string][]Resource{
			"tier runs 2": {{URN: "p", Type: "kubernetes:postgresql.cnpg.io/v1:Cluster", Props: obj(t, `{"spec": {"instances": 1}}`)}},
		}, team},
		{"hygiene-data-protected", []Resource{
			{URN: "v", Type: "hcloud:index/volume:Volume", Protect: true},
			{URN: "c", Type: "kubernetes:postgresql.cnpg.io/v1:Cluster", Protect: true},
			{URN: "d", Type: "kubernetes:apps/v1:Deployment"},
		}, map[string][]Resource{
			"holds data but is not protected": {{URN: "b", Type: "civo:index/objectStore:ObjectStore"}},
		}, team},
		{"hygiene-data-protected", []Resource{{URN: "b", Type: "civo:index/objectStore:ObjectStore"}}, nil, Env{Unprotected: true}},
		{"cloud-database-private", []Resource{
			{URN: "r", Type: "aws:rds/instance:Instance", Props: obj(t, `{"publiclyAccessible": false, "storageEncrypted": true, "backupRetentionPeriod": 14, "deletionProtection": true}`)},
			{URN: "g", Type: "gcp:sql/databaseInstance:DatabaseInstance", Props: obj(t, `{"deletionProtection": true, "settings": {"ipConfiguration": {"ipv4Enabled": false}, "backupConfiguration": {"enabled": true}}}`)},
		}, map[string][]Resource{
			"publiclyAccessible":    {{URN: "r", Type: "aws:rds/instance:Instance", Props: obj(t, `{"publiclyAccessible": true, "storageEncrypted": true, "backupRetentionPeriod": 14, "deletionProtection": true}`)}},
			"backupRetentionPeriod": {{URN: "r", Type: "aws:rds/instance:Instance", Props: obj(t, `{"storageEncrypted": true, "backupRetentionPeriod": 0, "deletionProtection": true}`)}},
			"storageEncrypted":      {{URN: "r", Type: "aws:rds/instance:Instance", Props: obj(t, `{"backupRetentionPeriod": 1, "deletionProtection": true}`)}},
			"ipv4Enabled":           {{URN: "g", Type: "gcp:sql/databaseInstance:DatabaseInstance", Props: obj(t, `{"settings": {"ipConfiguration": {"ipv4Enabled": true}, "backupConfiguration": {"enabled": true}}}`)}},
		}, team},
		{"cloud-bucket-private", []Resource{
			{URN: "b", Type: "aws:s3/bucketV2:BucketV2", Props: obj(t, `{}`)},
			{URN: "pab", Type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", Dependencies: []string{"b"}, Props: obj(t, `{"blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}`)},
			{URN: "sse", Type: "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", Dependencies: []string{"b"}, Props: obj(t, `{}`)},
			{URN: "g", Type: "gcp:storage/bucket:Bucket", Props: obj(t, `{"publicAccessPrevention": "enforced", "uniformBucketLevelAccess": true}`)},
		}, map[string][]Resource{
			"BucketPublicAccessBlock": {{URN: "b", Type: "aws:s3/bucketV2:BucketV2", Props: obj(t, `{}`)},
				{URN: "pab", Type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", Dependencies: []string{"b"}, Props: obj(t, `{"blockPublicAcls": true}`)}},
			"server-side encryption": {{URN: "b", Type: "aws:s3/bucketV2:BucketV2", Props: obj(t, `{}`)}},
			"publicAccessPrevention": {{URN: "g", Type: "gcp:storage/bucket:Bucket", Props: obj(t, `{"publicAccessPrevention": "inherited", "uniformBucketLevelAccess": true}`)}},
		}, team},
		{"cloud-no-open-admin-ports", []Resource{
			{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: obj(t, `{"rules": [{"direction": "in", "protocol": "tcp", "port": "443", "sourceIps": ["0.0.0.0/0", "::/0"]}, {"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["203.0.113.0/24"]}]}`)},
			{URN: "sg", Type: "aws:ec2/securityGroup:SecurityGroup", Props: obj(t, `{"ingress": [{"protocol": "tcp", "fromPort": 9440, "toPort": 9440, "cidrBlocks": ["10.0.0.0/16"]}]}`)},
		}, map[string][]Resource{
			"port(s) [22]": {{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: obj(t, `{"rules": [{"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["0.0.0.0/0"]}]}`)}},
			"[5432]":       {{URN: "c", Type: "civo:index/firewall:Firewall", Props: obj(t, `{"ingressRules": [{"action": "allow", "portRange": "5000-6000", "cidrs": ["::/0"]}]}`)}},
			"[22 2181 3306 5432 8123 9000 9181 9234 9440]": {{URN: "sg", Type: "aws:ec2/securityGroup:SecurityGroup", Props: obj(t, `{"ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]}`)}},
			"allows[0]": {{URN: "g", Type: "gcp:compute/firewall:Firewall", Props: obj(t, `{"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["22"]}]}`)}},
			// Openness is coverage, not spelling.
			"rules[1] opens port(s) [22]":          {{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: obj(t, `{"rules": [{"direction": "in", "protocol": "tcp", "port": "443", "sourceIps": ["0.0.0.0/0"]}, {"direction": "in", "protocol": "tcp", "port": "22", "sourceIps": ["0.0.0.0/1", "128.0.0.0/1"]}]}`)}},
			"ingressRules[0] opens port(s) [5432]": {{URN: "c", Type: "civo:index/firewall:Firewall", Props: obj(t, `{"ingressRules": [{"action": "allow", "portRange": "5432", "cidrs": ["0::0/0"]}]}`)}},
			"opens port(s) [9440]":                 {{URN: "sg", Type: "aws:ec2/securityGroup:SecurityGroup", Props: obj(t, `{"ingress": [{"protocol": "tcp", "fromPort": 9440, "toPort": 9440, "ipv6CidrBlocks": ["::/1", "8000::/1"]}]}`)}},
		}, team},
		{"cloud-no-open-admin-ports", []Resource{
			{URN: "r", Type: "aws:ec2/securityGroupRule:SecurityGroupRule", Props: obj(t, `{"type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["203.0.113.0/24"]}`)},
			{URN: "e", Type: "aws:ec2/securityGroupRule:SecurityGroupRule", Props: obj(t, `{"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}`)},
		}, map[string][]Resource{
			"the rule opens port(s) [22": {{URN: "r", Type: "aws:ec2/securityGroupRule:SecurityGroupRule", Props: obj(t, `{"type": "ingress", "protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}`)}},
			// The world but a few addresses is the world.
			"rules[0] opens port(s) [22]": {{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: map[string]any{"rules": []any{map[string]any{"direction": "in", "port": "22", "sourceIps": worldButOne()}}}}},
		}, team},
		{"cloud-no-world-cluster-ports", []Resource{
			{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: obj(t, `{"rules": [{"direction": "in", "port": "443", "sourceIps": ["0.0.0.0/0", "::/0"]}, {"direction": "in", "port": "9090", "sourceIps": ["10.0.0.0/8"]}]}`)},
		}, map[string][]Resource{
			"[10250]": {{URN: "g", Type: "gcp:compute/firewall:Firewall", Props: obj(t, `{"sourceRanges": ["0.0.0.0/0"], "allows": [{"protocol": "tcp", "ports": ["10000-11000"]}]}`)}},
			"[9090]":  {{URN: "c", Type: "civo:index/firewall:Firewall", Props: obj(t, `{"ingressRules": [{"action": "allow", "portRange": "9090", "cidrs": ["0.0.0.0/0"]}]}`)}},
			"[9598]":  {{URN: "r", Type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", Props: obj(t, `{"ipProtocol": "tcp", "fromPort": 9598, "toPort": 9598, "cidrIpv4": "0.0.0.0/0"}`)}},
			"ingress[0] opens port(s) [10250 9090 9598 9599]": {{URN: "s", Type: "aws:ec2/securityGroup:SecurityGroup", Props: map[string]any{"ingress": []any{map[string]any{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": worldButOne()}}}}},
		}, team},
		{"cloud-no-world-plain-syslog", []Resource{
			{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: obj(t, `{"rules": [{"direction": "in", "port": "6514", "sourceIps": ["0.0.0.0/0", "::/0"]}, {"direction": "in", "port": "5514", "sourceIps": ["10.0.0.0/8"]}]}`)},
		}, map[string][]Resource{
			"[5514]": {{URN: "c", Type: "civo:index/firewall:Firewall", Props: obj(t, `{"ingressRules": [{"action": "allow", "portRange": "5000-6000", "cidrs": ["0.0.0.0/0"]}]}`)}},
		}, team},
		{"cloud-firewall-sources", []Resource{
			{URN: "g", Type: "gcp:compute/firewall:Firewall", Props: obj(t, `{"sourceRanges": ["10.0.0.0/8"], "allows": [{"protocol": "tcp", "ports": ["443"]}]}`)},
			{URN: "g2", Type: "gcp:compute/firewall:Firewall", Props: obj(t, `{"sourceTags": ["nodes"], "allows": [{"protocol": "tcp"}]}`)},
			{URN: "g3", Type: "gcp:compute/firewall:Firewall", Props: obj(t, `{"direction": "EGRESS", "allows": [{"protocol": "tcp"}]}`)},
			{URN: "u", Type: "civo:index/firewall:Firewall", Props: map[string]any{"ingressRules": []any{map[string]any{"action": "allow", "portRange": "6443", "cidrs": Unknown{}}}}},
		}, map[string][]Resource{
			"allows[0] admits ports 22-22 without sources": {{URN: "g", Type: "gcp:compute/firewall:Firewall", Props: obj(t, `{"allows": [{"protocol": "tcp", "ports": ["22"]}]}`)}},
			"ingressRules[0] admits ports 6443-6443":       {{URN: "c", Type: "civo:index/firewall:Firewall", Props: obj(t, `{"ingressRules": [{"action": "allow", "portRange": "6443", "cidrs": []}]}`)}},
			"rules[0] admits":                              {{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: obj(t, `{"rules": [{"direction": "in", "port": "6443"}]}`)}},
		}, team},
		{"cloud-kube-api-restricted", []Resource{
			{URN: "e", Type: "aws:eks/cluster:Cluster", Props: obj(t, `{"vpcConfig": {"endpointPublicAccess": true, "publicAccessCidrs": ["203.0.113.0/24"]}}`)},
			{URN: "p", Type: "aws:eks/cluster:Cluster", Props: obj(t, `{"vpcConfig": {"endpointPublicAccess": false}}`)},
			{URN: "g", Type: "gcp:container/cluster:Cluster", Props: obj(t, `{"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]}}`)},
		}, map[string][]Resource{
			"publicAccessCidrs is empty":        {{URN: "e", Type: "aws:eks/cluster:Cluster", Props: obj(t, `{"vpcConfig": {"endpointPublicAccess": true, "publicAccessCidrs": []}}`)}},
			"AWS opens the public endpoint":     {{URN: "e", Type: "aws:eks/cluster:Cluster", Props: obj(t, `{"vpcConfig": {}}`)}},
			"no masterAuthorizedNetworksConfig": {{URN: "g", Type: "gcp:container/cluster:Cluster", Props: obj(t, `{"privateClusterConfig": {"enablePrivateNodes": true}}`)}},
		}, team},
		{"cloud-kube-api-not-world", []Resource{
			{URN: "e", Type: "aws:eks/cluster:Cluster", Props: obj(t, `{"vpcConfig": {"publicAccessCidrs": ["203.0.113.0/24"]}}`)},
			{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: obj(t, `{"rules": [{"direction": "in", "port": "6443", "sourceIps": ["198.51.100.0/24"]}]}`)},
		}, map[string][]Resource{
			"publicAccessCidrs opens":  {{URN: "e", Type: "aws:eks/cluster:Cluster", Props: obj(t, `{"vpcConfig": {"publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}}`)}},
			"cidrBlocks open":          {{URN: "g", Type: "gcp:container/cluster:Cluster", Props: map[string]any{"masterAuthorizedNetworksConfig": map[string]any{"cidrBlocks": cidrBlocks(worldButOne())}}}},
			"opens port(s) [6443]":     {{URN: "c", Type: "civo:index/firewall:Firewall", Props: obj(t, `{"ingressRules": [{"action": "allow", "portRange": "6443", "cidrs": ["0.0.0.0/0"]}]}`)}},
			"rules[0] opens port(s) [": {{URN: "f", Type: "hcloud:index/firewall:Firewall", Props: obj(t, `{"rules": [{"direction": "in", "port": "6443", "sourceIps": ["::/0"]}]}`)}},
		}, team},
		{"cloud-imds-v2", []Resource{
			{URN: "lt", Type: "aws:ec2/launchTemplate:LaunchTemplate", Props: obj(t, `{"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}}`)},
			{URN: "ng", Type: "aws:eks/nodeGroup:NodeGroup", Props: obj(t, `{"launchTemplate": {"id": "lt-1", "version": "1"}}`)},
		}, map[string][]Resource{
			"httpTokens is not":              {{URN: "lt", Type: "aws:ec2/launchTemplate:LaunchTemplate", Props: obj(t, `{"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 1}}`)}},
			"httpPutResponseHopLimit is not": {{URN: "lt", Type: "aws:ec2/launchTemplate:LaunchTemplate", Props: obj(t, `{"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2}}`)}},
			"metadataOptions.httpTokens":     {{URN: "i", Type: "aws:ec2/instance:Instance", Props: obj(t, `{}`)}},
			"no launchTemplate":              {{URN: "ng", Type: "aws:eks/nodeGroup:NodeGroup", Props: obj(t, `{"diskSize": 100}`)}},
		}, team},
		{"cloud-node-identity-minimal", []Resource{
			{URN: "c", Type: "gcp:container/cluster:Cluster", Props: obj(t, `{"workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"}, "nodeConfig": {"serviceAccount": "nodes@p.iam.gserviceaccount.com", "oauthScopes": ["https://www.googleapis.com/auth/logging.write"]}}`)},
			{URN: "np", Type: "gcp:container/nodePool:NodePool", Props: obj(t, `{"nodeConfig": {"serviceAccount": "nodes@p.iam.gserviceaccount.com", "oauthScopes": ["https://www.googleapis.com/auth/monitoring"]}}`)},
			{URN: "er", Type: "aws:iam/role:Role", Name: "ebs", Props: obj(t, `{"assumeRolePolicy": "{\"Statement\":[{\"Principal\":{\"Service\":\"pods.eks.amazonaws.com\"}}]}"}`)},
			{URN: "ea", Type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", Dependencies: []string{"er"}, Props: obj(t, `{"policyArn": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"}`)},
		}, map[string][]Resource{
			"default Compute service account": {{URN: "np", Type: "gcp:container/nodePool:NodePool", Props: obj(t, `{"nodeConfig": {"oauthScopes": ["https://www.googleapis.com/auth/logging.write"]}}`)}},
			"include cloud-platform":          {{URN: "np", Type: "gcp:container/nodePool:NodePool", Props: obj(t, `{"nodeConfig": {"serviceAccount": "n@p.iam.gserviceaccount.com", "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"]}}`)}},
			"Workload Identity is off":        {{URN: "c", Type: "gcp:container/cluster:Cluster", Props: obj(t, `{"nodeConfig": {"serviceAccount": "n@p.iam.gserviceaccount.com"}}`)}},
			"a role EC2 instances": {
				{URN: "nr", Type: "aws:iam/role:Role", Name: "node", Props: obj(t, `{"assumeRolePolicy": "{\"Statement\":[{\"Principal\":{\"Service\":\"ec2.amazonaws.com\"}}]}"}`)},
				{URN: "na", Type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", Dependencies: []string{"nr"}, Props: obj(t, `{"policyArn": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"}`)}},
		}, team},
		{"cloud-backup-bucket-versioned", []Resource{
			{URN: "b", Type: "aws:s3/bucketV2:BucketV2", Props: obj(t, `{"tags": {"nano-bucket": "backups"}}`)},
			{URN: "v", Type: "aws:s3/bucketVersioningV2:BucketVersioningV2", Dependencies: []string{"b"}, Props: obj(t, `{"versioningConfiguration": {"status": "Enabled"}}`)},
			{URN: "g", Type: "gcp:storage/bucket:Bucket", Props: obj(t, `{"labels": {"nano-bucket": "backups"}, "versioning": {"enabled": true}, "softDeletePolicy": {"retentionDurationSeconds": 1209600}}`)},
			{URN: "w", Type: "aws:s3/bucketV2:BucketV2", Props: obj(t, `{"tags": {"nano-tier": "team"}}`)}, // a warm bucket
		}, map[string][]Resource{
			"has no versioning": {{URN: "b", Type: "aws:s3/bucketV2:BucketV2", Props: obj(t, `{"tags": {"nano-bucket": "backups"}}`)},
				{URN: "v", Type: "aws:s3/bucketVersioningV2:BucketVersioningV2", Dependencies: []string{"b"}, Props: obj(t, `{"versioningConfiguration": {"status": "Suspended"}}`)}},
			"no soft delete": {{URN: "g", Type: "gcp:storage/bucket:Bucket", Props: obj(t, `{"labels": {"nano-bucket": "backups"}, "versioning": {"enabled": true}}`)}},
		}, team},
		{"cloud-private-nodes", []Resource{
			{URN: "gke", Type: "gcp:container/cluster:Cluster", Props: obj(t, `{"privateClusterConfig": {"enablePrivateNodes": true}}`)},
			{URN: "sn", Type: "aws:ec2/subnet:Subnet", Name: "private-a", Props: obj(t, `{"mapPublicIpOnLaunch": false}`)},
			{URN: "ng", Type: "aws:eks/nodeGroup:NodeGroup", Dependencies: []string{"sn"}, Props: obj(t, `{}`)},
		}, map[string][]Resource{
			"enablePrivateNodes": {{URN: "gke", Type: "gcp:container/cluster:Cluster", Props: obj(t, `{}`)}},
			"public subnet pub-a": {{URN: "sn", Type: "aws:ec2/subnet:Subnet", Name: "pub-a", Props: obj(t, `{"mapPublicIpOnLaunch": true}`)},
				{URN: "ng", Type: "aws:eks/nodeGroup:NodeGroup", Dependencies: []string{"sn"}, Props: obj(t, `{}`)}},
		}, team},
		{"hygiene-labels", []Resource{namespace(t),
			{URN: "v", Type: "aws:ec2/vpc:Vpc", Props: obj(t, `{"tags": {"nano-tier": "team", "nano-deployment": "d", "managed-by": "pulumi"}}`)},
			{URN: "k", Type: "civo:index/kubernetesCluster:KubernetesCluster", Props: obj(t, `{"tags": "managed-by=pulumi nano-deployment=d nano-tier=team"}`)},
			{URN: "a", Type: "aws:iam/accessKey:AccessKey", Props: obj(t, `{}`)}, // not taggable
		}, map[string][]Resource{
			"tags lacks nano-tier, nano-deployment, managed-by": {{URN: "v", Type: "aws:ec2/vpc:Vpc", Props: obj(t, `{}`)}},
			"labels lacks managed-by":                           {{URN: "s", Type: "hcloud:index/server:Server", Props: obj(t, `{"labels": {"nano-tier": "hobby", "nano-deployment": "d"}}`)}},
			"resourceLabels lacks":                              {{URN: "g", Type: "gcp:container/cluster:Cluster", Props: obj(t, `{"resourceLabels": {}}`)}},
		}, team},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		r := rule(t, c.rule)
		covered[c.rule] = true
		if vs := Evaluate([]*Rule{r}, c.pass, c.env); len(vs) > 0 {
			t.Errorf("%s: the compliant example fails: %v", c.rule, vs)
		}
		for want, rs := range c.fail {
			vs := Evaluate([]*Rule{r}, rs, c.env)
			found := false
			for _, v := range vs {
				found = found || strings.Contains(v.Message, want)
			}
			if !found {
				t.Errorf("%s: the violating example (%q) gives %v", c.rule, want, vs)
			}
		}
	}
	for _, r := range All() {
		if !covered[r.ID] {
			t.Errorf("rule %s has no examples", r.ID)
		}
		if r.ID == "" || r.Description == "" || r.Remediation == "" || (r.Level != Mandatory && r.Level != Advisory) || (r.Check == nil) == (r.CheckStack == nil) {
			t.Errorf("rule %+v is incomplete", r.ID)
		}
	}
}

// A value a preview does not know yet is not a violation.
func TestUnknownValuesAreNotViolations(t *testing.T) {
	t.Parallel()
	rs := []Resource{
		{URN: "r", Type: "aws:rds/instance:Instance", Protect: true, Props: map[string]any{"publiclyAccessible": false, "storageEncrypted": Unknown{}, "backupRetentionPeriod": Unknown{}, "deletionProtection": true, "tags": Unknown{}}},
		{URN: "v", Type: "aws:ec2/vpc:Vpc", Props: map[string]any{"tags": Unknown{}}},
		{URN: "c", Type: "kubernetes:core/v1:ConfigMap", Props: map[string]any{"metadata": map[string]any{"namespace": Unknown{}, "labels": Unknown{}}}},
	}
	if vs := Evaluate(All(), rs, Env{}); len(vs) > 0 {
		t.Errorf("%v", vs)
	}
}

// worldButOne is every IPv4 address but 203.0.113.7: 32 prefixes.
func worldButOne() []any {
	hole := netip.MustParseAddr("203.0.113.7")
	var out []any
	p := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	for p.Bits() < 32 {
		b := p.Addr().As4()
		b[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
		lo, hi := netip.PrefixFrom(p.Addr(), p.Bits()+1), netip.PrefixFrom(netip.AddrFrom4(b), p.Bits()+1)
		if lo.Contains(hole) {
			out, p = append(out, hi.String()), lo
		} else {
			out, p = append(out, lo.String()), hi
		}
	}
	return out
}

func cidrBlocks(cidrs []any) []any {
	var out []any
	for _, c := range cidrs {
		out = append(out, map[string]any{"cidrBlock": c})
	}
	return out
}
