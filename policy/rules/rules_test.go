package rules

import (
	"encoding/json"
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
	rs := []Resource{
		{URN: "r", Type: "aws:rds/instance:Instance", Protect: true, Props: map[string]any{"publiclyAccessible": false, "storageEncrypted": Unknown{}, "backupRetentionPeriod": Unknown{}, "deletionProtection": true, "tags": Unknown{}}},
		{URN: "v", Type: "aws:ec2/vpc:Vpc", Props: map[string]any{"tags": Unknown{}}},
		{URN: "c", Type: "kubernetes:core/v1:ConfigMap", Props: map[string]any{"metadata": map[string]any{"namespace": Unknown{}, "labels": Unknown{}}}},
	}
	if vs := Evaluate(All(), rs, Env{}); len(vs) > 0 {
		t.Errorf("%v", vs)
	}
}
