package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nanosiem/nano/stacks/model/cidrs"
)

// adminPorts must never be open to the whole internet: SSH and the
// databases' ports.
var adminPorts = []int{22, 2181, 3306, 5432, 8123, 9000, 9181, 9234, 9440}

// openToWorld reports whether the sources together cover all of IPv4 or
// IPv6, however they are spelled (package cidrs).
func openToWorld(sources []any) bool {
	values := make([]string, 0, len(sources))
	for _, c := range sources {
		values = append(values, str(c))
	}
	return cidrs.World(values) != ""
}

// portsOf parses "22", "80-90" or "" (all) into a range.
func portsOf(s string) (lo, hi int, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "any" || s == "all" {
		return 0, 65535, true
	}
	a, b, isRange := strings.Cut(s, "-")
	l, err1 := strconv.Atoi(strings.TrimSpace(a))
	h := l
	var err2 error
	if isRange {
		h, err2 = strconv.Atoi(strings.TrimSpace(b))
	}
	return l, h, err1 == nil && err2 == nil
}

func adminPortsIn(lo, hi int) []int {
	var out []int
	for _, p := range adminPorts {
		if p >= lo && p <= hi {
			out = append(out, p)
		}
	}
	return out
}

// dependents are the resources of type typ that depend on urn.
func dependents(rs []Resource, urn, typ string) []Resource {
	var out []Resource
	for _, r := range rs {
		if r.Type == typ && slices.Contains(r.Dependencies, urn) {
			out = append(out, r)
		}
	}
	return out
}

var cloudRules = []*Rule{
	{
		ID: "cloud-database-private", Level: Mandatory,
		Description: "Managed databases (RDS, Cloud SQL) are private, encrypted, backed up with a retention above zero, and protected from deletion (unless nano:protectData is false, to destroy them).",
		Remediation: "RDS: publiclyAccessible false, storageEncrypted true, backupRetentionPeriod > 0, deletionProtection true. Cloud SQL: no public IPv4, backups enabled, deletionProtection true.",
		Check: func(r Resource, env Env) []string {
			var out []string
			switch r.Type {
			case "aws:rds/instance:Instance":
				if isTrue(r.Props["publiclyAccessible"]) {
					out = append(out, "publiclyAccessible is true")
				}
				if !isTrue(r.Props["storageEncrypted"]) && !isUnknown(r.Props["storageEncrypted"]) {
					out = append(out, "storageEncrypted is not true")
				}
				if n, ok := number(r.Props["backupRetentionPeriod"]); !isUnknown(r.Props["backupRetentionPeriod"]) && (!ok || n <= 0) {
					out = append(out, "backupRetentionPeriod is not above 0")
				}
				if !env.Unprotected && !isTrue(r.Props["deletionProtection"]) && !isUnknown(r.Props["deletionProtection"]) {
					out = append(out, "deletionProtection is not true")
				}
			case "gcp:sql/databaseInstance:DatabaseInstance":
				if v := get(r.Props, "settings", "ipConfiguration", "ipv4Enabled"); !isFalse(v) && !isUnknown(v) {
					out = append(out, "settings.ipConfiguration.ipv4Enabled is not false (public IP)")
				}
				if v := get(r.Props, "settings", "backupConfiguration", "enabled"); !isTrue(v) && !isUnknown(v) {
					out = append(out, "settings.backupConfiguration.enabled is not true")
				}
				if !env.Unprotected && isFalse(r.Props["deletionProtection"]) {
					out = append(out, "deletionProtection is false")
				}
			}
			return out
		},
	},
	{
		ID: "cloud-bucket-private", Level: Mandatory,
		Description: "Object-storage buckets are encrypted and block public access.",
		Remediation: "S3: a BucketPublicAccessBlock with all four settings true and a server-side encryption configuration. GCS: publicAccessPrevention enforced and uniform bucket-level access.",
		CheckStack: func(rs []Resource, _ Env) []Finding {
			var out []Finding
			for _, r := range rs {
				switch r.Type {
				case "aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket":
					blocked := false
					for _, b := range dependents(rs, r.URN, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock") {
						blocked = blocked || (isTrue(b.Props["blockPublicAcls"]) && isTrue(b.Props["blockPublicPolicy"]) &&
							isTrue(b.Props["ignorePublicAcls"]) && isTrue(b.Props["restrictPublicBuckets"]))
					}
					if !blocked {
						out = append(out, Finding{r.URN, "no BucketPublicAccessBlock with all four settings true"})
					}
					encrypted := len(dependents(rs, r.URN, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")) > 0 ||
						len(dependents(rs, r.URN, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")) > 0
					if !encrypted {
						out = append(out, Finding{r.URN, "no server-side encryption configuration"})
					}
				case "gcp:storage/bucket:Bucket":
					if str(r.Props["publicAccessPrevention"]) != "enforced" && !isUnknown(r.Props["publicAccessPrevention"]) {
						out = append(out, Finding{r.URN, "publicAccessPrevention is not enforced"})
					}
					if !isTrue(r.Props["uniformBucketLevelAccess"]) && !isUnknown(r.Props["uniformBucketLevelAccess"]) {
						out = append(out, Finding{r.URN, "uniformBucketLevelAccess is not true"})
					}
				}
			}
			return out
		},
	},
	{
		ID: "cloud-no-open-admin-ports", Level: Mandatory,
		Description: "Firewalls, security groups and their rule resources never open SSH or database ports to the whole internet: sources whose union covers all of IPv4 or IPv6, or all of it but a few addresses (0.0.0.0/0, ::/0, [0.0.0.0/1, 128.0.0.0/1], the world but one /24, ...).",
		Remediation: "Limit SSH (nano:sshAllowedCidrs) and database ports to known networks; databases stay private.",
		Check: func(r Resource, _ Env) []string {
			var out []string
			for _, rule := range inbound(r) {
				if !rule.world() {
					continue
				}
				if ports := adminPortsIn(rule.lo, rule.hi); len(ports) > 0 {
					out = append(out, fmt.Sprintf("%s opens port(s) %v to the internet", rule.where, ports))
				}
			}
			return out
		},
	},
	{
		ID: "cloud-private-nodes", Level: Mandatory,
		Description: "Managed Kubernetes nodes on GCP and AWS have no public addresses: GKE private nodes, EKS node groups in private subnets.",
		Remediation: "GKE: privateClusterConfig.enablePrivateNodes true with Cloud NAT. EKS: put node groups in subnets with mapPublicIpOnLaunch false behind a NAT gateway.",
		CheckStack: func(rs []Resource, _ Env) []Finding {
			byURN := map[string]Resource{}
			for _, r := range rs {
				byURN[r.URN] = r
			}
			var out []Finding
			for _, r := range rs {
				switch r.Type {
				case "gcp:container/cluster:Cluster":
					if v := get(r.Props, "privateClusterConfig", "enablePrivateNodes"); !isTrue(v) && !isUnknown(v) {
						out = append(out, Finding{r.URN, "privateClusterConfig.enablePrivateNodes is not true"})
					}
				case "aws:eks/nodeGroup:NodeGroup":
					for _, d := range r.Dependencies {
						if s, ok := byURN[d]; ok && s.Type == "aws:ec2/subnet:Subnet" && isTrue(s.Props["mapPublicIpOnLaunch"]) {
							out = append(out, Finding{r.URN, fmt.Sprintf("node group runs in public subnet %s", s.Name)})
						}
					}
				}
			}
			return out
		},
	},
}
