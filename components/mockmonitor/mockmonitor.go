// Package mockmonitor is a Pulumi mock resource monitor that records every
// resource a program registers and answers with plausible provider outputs.
// The offline plan and the mocks tests use it; cloud provider plugins cannot
// run on machines without cloud accounts.
package mockmonitor

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one registered resource.
type Resource struct {
	Type, Name string
	// ParentType and ParentName identify the parent ("" for the stack).
	ParentType, ParentName string
	Custom                 bool
	Inputs                 resource.PropertyMap
	// Provider is the provider reference ("" for the default provider).
	Provider string
	// Dependencies are the URNs the resource depends on.
	Dependencies []string
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
		r.ParentType, r.ParentName = splitURN(args.RegisterRPC.GetParent())
		r.Dependencies = args.RegisterRPC.GetDependencies()
	}
	m.resources = append(m.resources, r)
	if !args.Custom {
		return "", resource.PropertyMap{}, nil
	}
	m.nextID++
	state := args.Inputs.Copy()
	for k, v := range mockOutputs[args.TypeToken] {
		state[resource.PropertyKey(k)] = resource.NewProperty(v)
	}
	// Hetzner ids are integers; others accept any string.
	return fmt.Sprint(1000 + m.nextID), state, nil
}

// Call implements pulumi.MockResourceMonitor; nano's program calls no
// provider functions.
func (m *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("plan: the program called %s, which the offline plan cannot answer", args.Token)
}

const placeholderPEM = "-----BEGIN %s-----\nplanned offline: generated at deploy\n-----END %s-----\n"

func pem(kind string) string { return fmt.Sprintf(placeholderPEM, kind, kind) }

// mockOutputs are the computed outputs of resource types nano registers.
var mockOutputs = map[string]map[string]string{
	"hcloud:index/primaryIp:PrimaryIp":           {"ipAddress": "192.0.2.10"},
	"random:index/randomPassword:RandomPassword": {"result": "generatedAtDeploy"},
	"random:index/randomUuid:RandomUuid":         {"result": "00000000-0000-4000-8000-000000000000"},
	"tls:index/privateKey:PrivateKey": {
		"privateKeyPem": pem("PRIVATE KEY"), "privateKeyOpenssh": pem("OPENSSH PRIVATE KEY"),
		"publicKeyPem": pem("PUBLIC KEY"), "publicKeyOpenssh": "ssh-ed25519 AAAAplannedOffline",
	},
	"tls:index/selfSignedCert:SelfSignedCert":       {"certPem": pem("CERTIFICATE")},
	"tls:index/certRequest:CertRequest":             {"certRequestPem": pem("CERTIFICATE REQUEST")},
	"tls:index/locallySignedCert:LocallySignedCert": {"certPem": pem("CERTIFICATE")},
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
