package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nanosiem/nano/services/contract"
)

// inboundRule is one rule of a firewall or security group that admits
// traffic: where it is in its resource, its port range, and its sources
// (CIDRs; "" when the rule names none, which some clouds read as
// everywhere).
type inboundRule struct {
	where   string
	lo, hi  int
	sources []any
	// other: the rule admits by something other than CIDRs (security
	// groups, tags, service accounts, prefix lists).
	other bool
	// unknown: a preview does not know the sources yet.
	unknown bool
}

// sourcesOf joins CIDR lists; unknown when any is a preview's unknown.
func sourcesOf(vals ...any) (out []any, unknown bool) {
	for _, v := range vals {
		if isUnknown(v) || isUnknownList(list(v)) {
			unknown = true
		}
		if l := list(v); l != nil {
			out = append(out, l...)
		} else if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out, unknown
}

// world reports whether the rule's CIDRs cover all (or all but a few) of
// IPv4 or IPv6.
func (r inboundRule) world() bool { return openToWorld(r.sources) }

// noSources reports whether the rule admits without naming any source.
func (r inboundRule) noSources() bool {
	if r.other {
		return false
	}
	for _, s := range r.sources {
		if str(s) != "" {
			return false
		}
	}
	return true
}

func (r inboundRule) covers(port int) bool { return port >= r.lo && port <= r.hi }

// inbound lists the inbound rules of the firewall and security-group
// resources nano's clouds have (Hetzner, Civo, AWS security groups and
// their rule resources, GCP firewalls); nil for anything else.
func inbound(r Resource) []inboundRule {
	var out []inboundRule
	awsRange := func(v map[string]any, protoKey string) (int, int) {
		lo, _ := number(v["fromPort"])
		hi, _ := number(v["toPort"])
		if str(v[protoKey]) == "-1" || str(v[protoKey]) == "all" {
			return 0, 65535
		}
		return int(lo), int(hi)
	}
	switch r.Type {
	case "hcloud:index/firewall:Firewall":
		for i, rule := range list(r.Props["rules"]) {
			if str(get(rule, "direction")) == "in" {
				if lo, hi, ok := portsOf(str(get(rule, "port"))); ok {
					src, unknown := sourcesOf(get(rule, "sourceIps"))
					out = append(out, inboundRule{where: fmt.Sprintf("rules[%d]", i), lo: lo, hi: hi, sources: src, unknown: unknown})
				}
			}
		}
	case "civo:index/firewall:Firewall":
		for i, rule := range list(r.Props["ingressRules"]) {
			if str(get(rule, "action")) != "deny" {
				if lo, hi, ok := portsOf(str(get(rule, "portRange"))); ok {
					src, unknown := sourcesOf(get(rule, "cidrs"))
					out = append(out, inboundRule{where: fmt.Sprintf("ingressRules[%d]", i), lo: lo, hi: hi, sources: src, unknown: unknown})
				}
			}
		}
	case "aws:ec2/securityGroup:SecurityGroup":
		for i, rule := range list(r.Props["ingress"]) {
			m, _ := rule.(map[string]any)
			lo, hi := awsRange(m, "protocol")
			src, unknown := sourcesOf(m["cidrBlocks"], m["ipv6CidrBlocks"])
			out = append(out, inboundRule{where: fmt.Sprintf("ingress[%d]", i), lo: lo, hi: hi, sources: src, unknown: unknown || isUnknown(m["securityGroups"]),
				other: len(list(m["securityGroups"])) > 0 || len(list(m["prefixListIds"])) > 0 || isTrue(m["self"])})
		}
	case "aws:ec2/securityGroupRule:SecurityGroupRule":
		if str(r.Props["type"]) == "ingress" {
			lo, hi := awsRange(r.Props, "protocol")
			src, unknown := sourcesOf(r.Props["cidrBlocks"], r.Props["ipv6CidrBlocks"])
			out = append(out, inboundRule{where: "the rule", lo: lo, hi: hi, sources: src, unknown: unknown || isUnknown(r.Props["sourceSecurityGroupId"]),
				other: str(r.Props["sourceSecurityGroupId"]) != "" || len(list(r.Props["prefixListIds"])) > 0 || isTrue(r.Props["self"])})
		}
	case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
		lo, hi := awsRange(r.Props, "ipProtocol")
		src, unknown := sourcesOf(r.Props["cidrIpv4"], r.Props["cidrIpv6"])
		out = append(out, inboundRule{where: "the rule", lo: lo, hi: hi, sources: src, unknown: unknown || isUnknown(r.Props["referencedSecurityGroupId"]),
			other: str(r.Props["referencedSecurityGroupId"]) != "" || str(r.Props["prefixListId"]) != ""})
	case "gcp:compute/firewall:Firewall":
		if d := str(r.Props["direction"]); d != "" && d != "INGRESS" {
			return nil
		}
		other := len(list(r.Props["sourceTags"])) > 0 || len(list(r.Props["sourceServiceAccounts"])) > 0
		src, unknown := sourcesOf(r.Props["sourceRanges"])
		unknown = unknown || isUnknown(r.Props["sourceTags"]) || isUnknown(r.Props["sourceServiceAccounts"])
		for i, a := range list(r.Props["allows"]) {
			ports := list(get(a, "ports"))
			if len(ports) == 0 {
				ports = []any{""}
			}
			for _, p := range ports {
				if lo, hi, ok := portsOf(str(p)); ok {
					out = append(out, inboundRule{where: fmt.Sprintf("allows[%d]", i), lo: lo, hi: hi, sources: src, other: other, unknown: unknown})
				}
			}
		}
	}
	return out
}

// clusterPorts must never be open to the whole internet: the kubelet, and
// Prometheus's, ingest's and the web UI's metrics (nano's monitoring stays inside).
var clusterPorts = []int{10250, 9090, 9598, 9599}

// kubeAPIPort is the Kubernetes API's.
const kubeAPIPort = 6443

// worldOpen lists the rules of r that open one of ports to the world.
func worldOpen(r Resource, ports []int) []string {
	var out []string
	for _, rule := range inbound(r) {
		if !rule.world() {
			continue
		}
		var open []int
		for _, p := range ports {
			if rule.covers(p) {
				open = append(open, p)
			}
		}
		if len(open) > 0 {
			out = append(out, fmt.Sprintf("%s opens port(s) %v to the internet", rule.where, open))
		}
	}
	return out
}

// bucketRole is the tag (label) nano puts on its buckets: backups on the
// backup buckets.
const (
	bucketRoleKey = "nano-bucket"
	bucketBackups = "backups"
)

var exposureRules = []*Rule{
	{
		ID: "cloud-no-world-plain-syslog", Level: Mandatory,
		Description: "Firewalls and security groups never open ingest's plain syslog port (5514, TCP and UDP: no credential, attributed by source network) to the whole internet.",
		Remediation: "Allow only the senders' networks on 5514 (and list them in NANO_SYSLOG_TCP_SOURCES/UDP_SOURCES), or send syslog over TLS on 6514.",
		Check:       func(r Resource, _ Env) []string { return worldOpen(r, []int{contract.Ports.IngestSyslog}) },
	},
	{
		ID: "cloud-no-world-cluster-ports", Level: Mandatory,
		Description: "Firewalls and security groups never open the kubelet (10250), Prometheus (9090) or the metrics ports of ingest (9598) and the web UI (9599) to the whole internet, nor to all of it but a few addresses.",
		Remediation: "Keep these ports closed to the internet: Prometheus and the metrics are scraped inside the deployment.",
		Check:       func(r Resource, _ Env) []string { return worldOpen(r, clusterPorts) },
	},
	{
		ID: "cloud-firewall-sources", Level: Mandatory,
		Description: "Every inbound firewall rule names its sources: a GCP firewall without sourceRanges (or tags, service accounts) admits 0.0.0.0/0, and a Civo or Hetzner rule without CIDRs is no allow-list.",
		Remediation: "Give each inbound rule its source CIDRs (nano:kubeApiAllowedCidrs for 6443).",
		Check: func(r Resource, _ Env) []string {
			var out []string
			for _, rule := range inbound(r) {
				if rule.noSources() && !rule.unknown {
					out = append(out, fmt.Sprintf("%s admits ports %d-%d without sources", rule.where, rule.lo, rule.hi))
				}
			}
			return out
		},
	},
	{
		ID: "cloud-kube-api-restricted", Level: Mandatory,
		Description: "A managed cluster's public API endpoint has an allow-list: EKS publicAccessCidrs is never empty (AWS reads empty as 0.0.0.0/0), GKE has master authorized networks.",
		Remediation: "Set nano:kubeApiAllowedCidrs to IPv4 networks (EKS and GKE take IPv4 only).",
		Check: func(r Resource, _ Env) []string {
			switch r.Type {
			case "aws:eks/cluster:Cluster":
				vpc := r.Props["vpcConfig"]
				if isFalse(get(vpc, "endpointPublicAccess")) || isUnknown(get(vpc, "publicAccessCidrs")) {
					return nil
				}
				if len(list(get(vpc, "publicAccessCidrs"))) == 0 {
					return []string{"vpcConfig.publicAccessCidrs is empty: AWS opens the public endpoint to 0.0.0.0/0"}
				}
			case "gcp:container/cluster:Cluster":
				if isTrue(get(r.Props, "privateClusterConfig", "enablePrivateEndpoint")) {
					return nil
				}
				if m := r.Props["masterAuthorizedNetworksConfig"]; m == nil {
					return []string{"no masterAuthorizedNetworksConfig: the public endpoint admits every network"}
				}
			}
			return nil
		},
	},
	{
		ID: "cloud-kube-api-not-world", Level: Advisory,
		Description: "The Kubernetes API (6443, EKS publicAccessCidrs, GKE master authorized networks) is not open to the whole internet, nor to all of it but a few addresses. Every request still needs the cluster's credentials; the default nano:kubeApiAllowedCidrs is the world.",
		Remediation: "Narrow nano:kubeApiAllowedCidrs to the networks pulumi up and your admins run from.",
		Check: func(r Resource, _ Env) []string {
			out := worldOpen(r, []int{kubeAPIPort})
			switch r.Type {
			case "aws:eks/cluster:Cluster":
				if c := list(get(r.Props, "vpcConfig", "publicAccessCidrs")); len(c) > 0 && openToWorld(c) && !isFalse(get(r.Props, "vpcConfig", "endpointPublicAccess")) {
					out = append(out, "vpcConfig.publicAccessCidrs opens the public endpoint to the internet")
				}
			case "gcp:container/cluster:Cluster":
				var cidrs []any
				for _, b := range list(get(r.Props, "masterAuthorizedNetworksConfig", "cidrBlocks")) {
					cidrs = append(cidrs, get(b, "cidrBlock"))
				}
				if len(cidrs) > 0 && openToWorld(cidrs) {
					out = append(out, "masterAuthorizedNetworksConfig.cidrBlocks open the public endpoint to the internet")
				}
			}
			return out
		},
	},
	{
		ID: "cloud-imds-v2", Level: Mandatory,
		Description: "AWS instances and EKS nodes require IMDSv2 (session tokens) with a hop limit of 1, so a container cannot take the node role's credentials from the instance metadata service; EKS node groups use a launch template that says so (their default allows IMDSv1 and 2 hops).",
		Remediation: "Launch templates: metadataOptions.httpTokens \"required\", httpPutResponseHopLimit 1; node groups: launchTemplate set.",
		Check: func(r Resource, _ Env) []string {
			check := func(m any, path string) []string {
				if isUnknown(m) {
					return nil
				}
				var out []string
				if t := get(m, "httpTokens"); str(t) != "required" && !isUnknown(t) {
					out = append(out, path+".httpTokens is not \"required\" (IMDSv1 allowed)")
				}
				if h, ok := number(get(m, "httpPutResponseHopLimit")); (!ok || h > 1) && !isUnknown(get(m, "httpPutResponseHopLimit")) {
					out = append(out, path+".httpPutResponseHopLimit is not 1")
				}
				return out
			}
			switch r.Type {
			case "aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance":
				return check(r.Props["metadataOptions"], "metadataOptions")
			case "aws:eks/nodeGroup:NodeGroup":
				if lt := r.Props["launchTemplate"]; lt == nil {
					return []string{"no launchTemplate: EKS's default node settings allow IMDSv1 and a hop limit of 2"}
				}
			}
			return nil
		},
	},
	{
		ID: "cloud-node-identity-minimal", Level: Mandatory,
		Description: "Cluster nodes carry no more than nodes need: GKE nodes run as a dedicated service account (not the default Compute one) without the cloud-platform scope, with Workload Identity on the cluster; EKS nodes' role has no volume rights (the EBS CSI driver's come through Pod Identity or IRSA).",
		Remediation: "GKE: nodeConfig.serviceAccount a dedicated account, oauthScopes narrow, workloadIdentityConfig.workloadPool set. EKS: attach AmazonEBSCSIDriverPolicy to a Pod Identity role of the add-on, not to the node role.",
		CheckStack: func(rs []Resource, _ Env) []Finding {
			byURN := map[string]Resource{}
			for _, r := range rs {
				byURN[r.URN] = r
			}
			var out []Finding
			nodeConfig := func(r Resource, path string, cfg any) {
				if cfg == nil || isUnknown(cfg) {
					out = append(out, Finding{r.URN, path + " is not set: nodes run as the project's default Compute service account"})
					return
				}
				if sa := get(cfg, "serviceAccount"); !isUnknown(sa) && (str(sa) == "" || str(sa) == "default" || strings.HasSuffix(str(sa), "-compute@developer.gserviceaccount.com")) {
					out = append(out, Finding{r.URN, path + ".serviceAccount is the default Compute service account"})
				}
				for _, s := range list(get(cfg, "oauthScopes")) {
					if strings.HasSuffix(str(s), "/auth/cloud-platform") || str(s) == "cloud-platform" {
						out = append(out, Finding{r.URN, path + ".oauthScopes include cloud-platform"})
					}
				}
			}
			for _, r := range rs {
				switch r.Type {
				case "gcp:container/nodePool:NodePool":
					nodeConfig(r, "nodeConfig", r.Props["nodeConfig"])
				case "gcp:container/cluster:Cluster":
					if p := get(r.Props, "workloadIdentityConfig", "workloadPool"); str(p) == "" && !isUnknown(p) {
						out = append(out, Finding{r.URN, "workloadIdentityConfig.workloadPool is not set: Workload Identity is off"})
					}
					// The default pool's nodes exist until it is removed.
					nodeConfig(r, "nodeConfig", r.Props["nodeConfig"])
				case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
					if !strings.HasSuffix(str(r.Props["policyArn"]), "/AmazonEBSCSIDriverPolicy") {
						continue
					}
					for _, d := range r.Dependencies {
						if role, ok := byURN[d]; ok && role.Type == "aws:iam/role:Role" && strings.Contains(str(role.Props["assumeRolePolicy"]), "ec2.amazonaws.com") {
							out = append(out, Finding{r.URN, fmt.Sprintf("AmazonEBSCSIDriverPolicy is attached to %s, a role EC2 instances (the nodes) assume", role.Name)})
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "cloud-backup-bucket-versioned", Level: Mandatory,
		Description: "Backup buckets (tagged nano-bucket=backups) keep what is overwritten or deleted: S3 versioning enabled, GCS versioning and soft delete.",
		Remediation: "S3: a BucketVersioningV2 with status Enabled. GCS: versioning.enabled true and a softDeletePolicy with a retention.",
		CheckStack: func(rs []Resource, _ Env) []Finding {
			var out []Finding
			for _, r := range rs {
				if resourceLabels(r)[bucketRoleKey] != bucketBackups {
					continue
				}
				switch r.Type {
				case "aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket":
					versioned := isTrue(get(r.Props, "versioning", "enabled"))
					for _, v := range dependents(rs, r.URN, "aws:s3/bucketVersioningV2:BucketVersioningV2") {
						versioned = versioned || slices.Contains([]string{"Enabled"}, str(get(v.Props, "versioningConfiguration", "status")))
					}
					if !versioned {
						out = append(out, Finding{r.URN, "the backup bucket has no versioning: an overwrite or delete loses the backup"})
					}
				case "gcp:storage/bucket:Bucket":
					if v := get(r.Props, "versioning", "enabled"); !isTrue(v) && !isUnknown(v) {
						out = append(out, Finding{r.URN, "the backup bucket has no versioning"})
					}
					if d, ok := number(get(r.Props, "softDeletePolicy", "retentionDurationSeconds")); !ok || d <= 0 {
						if !isUnknown(get(r.Props, "softDeletePolicy", "retentionDurationSeconds")) {
							out = append(out, Finding{r.URN, "the backup bucket has no soft delete retention"})
						}
					}
				}
			}
			return out
		},
	},
}

// isUnknownList reports whether a list is a preview's unknown value.
func isUnknownList(v []any) bool {
	for _, x := range v {
		if isUnknown(x) {
			return true
		}
	}
	return false
}
