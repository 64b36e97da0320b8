// Package mockmonitor is a Pulumi mock resource monitor that records every
// resource a program registers and answers with plausible provider outputs.
// The offline plan and the mocks tests use it; cloud provider plugins cannot
// run on machines without cloud accounts.
package mockmonitor

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one registered resource.
type Resource struct {
	// URN is what the engine would call the resource.
	URN        string
	Type, Name string
	// ParentType and ParentName identify the parent ("" for the stack).
	ParentType, ParentName string
	Custom                 bool
	Inputs                 resource.PropertyMap
	// Provider is the provider reference ("" for the default provider).
	Provider string
	// Dependencies are the URNs the resource depends on.
	Dependencies []string
	// Protect is the resource's protect option.
	Protect bool
}

// Recorder is a pulumi.MockResourceMonitor that records resources and
// returns plausible provider outputs (documentation IP addresses, numeric
// ids, placeholder PEM text) so that programs can compute with them.
type Recorder struct {
	mu        sync.Mutex
	resources []Resource
	nextID    int
}

// Resources returns what was registered, in registration order.
func (m *Recorder) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Resource(nil), m.resources...)
}

// NewResource implements pulumi.MockResourceMonitor.
func (m *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs, Provider: args.Provider}
	if args.RegisterRPC != nil {
		parent := args.RegisterRPC.GetParent()
		r.ParentType, r.ParentName = splitURN(parent)
		r.Dependencies = args.RegisterRPC.GetDependencies()
		r.Protect = args.RegisterRPC.GetProtect()
		if p := resource.URN(parent); p.IsValid() {
			parentType := p.QualifiedType()
			if p.Type() == resource.RootStackType {
				parentType = ""
			}
			r.URN = string(resource.NewURN(p.Stack(), p.Project(), parentType, tokens.Type(args.TypeToken), args.Name))
		}
	}
	m.resources = append(m.resources, r)
	if !args.Custom {
		return "", resource.PropertyMap{}, nil
	}
	m.nextID++
	state := args.Inputs.Copy()
	for k, v := range mockOutputs[args.TypeToken] {
		state[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
	}
	if named := namedOutputs[args.TypeToken]; named != nil {
		for k, v := range named(args.Name) {
			if _, set := state[resource.PropertyKey(k)]; !set {
				state[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
			}
		}
	}
	// Hetzner ids are integers; others accept any string.
	return fmt.Sprint(1000 + m.nextID), state, nil
}

// Call implements pulumi.MockResourceMonitor: it answers the provider
// functions nano's program calls with planned values.
func (m *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	out, ok := mockCalls[args.Token]
	if !ok {
		return nil, fmt.Errorf("plan: the program called %s, which the offline plan cannot answer", args.Token)
	}
	result := args.Args.Copy()
	for k, v := range out {
		result[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
	}
	return result, nil
}

// mockCalls are the planned results of the provider functions nano calls.
var mockCalls = map[string]map[string]any{
	"aws:index/getAvailabilityZones:getAvailabilityZones": {
		"id": "planned", "names": []any{"planned-zone-a", "planned-zone-b", "planned-zone-c"},
		"zoneIds": []any{"planned-az1", "planned-az2", "planned-az3"},
	},
	"vultr:index/getObjectStorageCluster:getObjectStorageCluster": {
		"id": 2, "hostname": "planned.vultrobjects.com", "region": "planned", "deploy": "yes",
	},
}

const placeholderPEM = "-----BEGIN %s-----\nplanned offline: generated at deploy\n-----END %s-----\n"

func pem(kind string) string { return fmt.Sprintf(placeholderPEM, kind, kind) }

// namedOutputs are computed outputs that follow the resource's name: an S3
// bucket's name (auto-named from the resource's) and its ARN, which the
// IAM policies of its keys name.
var namedOutputs = map[string]func(name string) map[string]any{
	"aws:s3/bucketV2:BucketV2": func(name string) map[string]any {
		return map[string]any{"bucket": name, "arn": "arn:aws:s3:::" + name}
	},
	"gcp:storage/bucket:Bucket": func(name string) map[string]any { return map[string]any{"name": name} },
	// Keys: placeholders of their own, so two keys are told apart.
	"aws:iam/accessKey:AccessKey": func(name string) map[string]any { return map[string]any{"secret": "planned-secret-of-" + name} },
	"gcp:storage/hmacKey:HmacKey": func(name string) map[string]any {
		return map[string]any{"accessId": "planned-id-of-" + name, "secret": "planned-secret-of-" + name}
	},
}

// mockOutputs are the computed outputs of resource types nano registers.
var mockOutputs = map[string]map[string]any{
	"hcloud:index/primaryIp:PrimaryIp":          {"ipAddress": "192.0.2.10"},
	"gcp:compute/forwardingRule:ForwardingRule": {"pscConnectionId": "12345678901234567"},
	// A service account's project and address, as GCP derives them.
	"gcp:serviceaccount/account:Account": {"project": "planned-project", "email": "planned@planned-project.iam.gserviceaccount.com"},
	// A LoadBalancer's address, as the cloud assigns it (documentation IP).
	"kubernetes:core/v1:Service":                 {"status": map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": "203.0.113.20"}}}}},
	"random:index/randomPassword:RandomPassword": {"result": "generatedAtDeploy"},
	"random:index/randomBytes:RandomBytes":       {"base64": "cGxhbm5lZC1vZmZsaW5lLWFwaS1rZXktMzItYnl0ZXM="},
	"random:index/randomUuid:RandomUuid":         {"result": "00000000-0000-4000-8000-000000000000"},
	"tls:index/privateKey:PrivateKey": {
		"privateKeyPem": pem("PRIVATE KEY"), "privateKeyOpenssh": pem("OPENSSH PRIVATE KEY"),
		"publicKeyPem": pem("PUBLIC KEY"), "publicKeyOpenssh": "ssh-ed25519 AAAAplannedOffline",
	},
	"tls:index/selfSignedCert:SelfSignedCert":       {"certPem": pem("CERTIFICATE")},
	"tls:index/certRequest:CertRequest":             {"certRequestPem": pem("CERTIFICATE REQUEST")},
	"tls:index/locallySignedCert:LocallySignedCert": {"certPem": pem("CERTIFICATE")},
	"gcp:container/cluster:Cluster": {
		"endpoint": "192.0.2.20", "masterAuth": map[string]any{"clusterCaCertificate": base64.StdEncoding.EncodeToString([]byte(pem("CERTIFICATE")))},
	},
	"aws:eks/cluster:Cluster": {
		"endpoint": "https://planned.eks.amazonaws.com", "name": "planned",
		"certificateAuthority": map[string]any{"data": base64.StdEncoding.EncodeToString([]byte(pem("CERTIFICATE")))},
		"vpcConfig":            map[string]any{"clusterSecurityGroupId": "sg-planned"},
	},
	"civo:index/kubernetesCluster:KubernetesCluster": {"kubeconfig": "apiVersion: v1\nkind: Config\n"},
	"vultr:index/kubernetes:Kubernetes":              {"kubeConfig": base64.StdEncoding.EncodeToString([]byte("apiVersion: v1\nkind: Config\n"))},
	"vultr:index/objectStorage:ObjectStorage": {
		"s3Hostname": "planned.vultrobjects.com", "s3AccessKey": "planned", "s3SecretKey": "planned",
	},
	"gcp:sql/databaseInstance:DatabaseInstance": {"privateIpAddress": "10.64.0.3"},
	"aws:rds/instance:Instance":                 {"address": "planned.rds.amazonaws.com"},
	"gcp:compute/address:Address":               {"address": "10.10.0.50"},
}

// splitURN returns the type and name of a URN
// (urn:pulumi:stack::project::parent$type::name).
func splitURN(urn string) (typ, name string) {
	parts := strings.SplitN(urn, "::", 4)
	if len(parts) != 4 {
		return "", ""
	}
	qualified := parts[2]
	if i := strings.LastIndex(qualified, "$"); i >= 0 {
		qualified = qualified[i+1:]
	}
	return qualified, parts[3]
}
