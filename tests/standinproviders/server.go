package standinproviders

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// create computes a resource's outputs from its inputs (which carry no
// secrets and no unknowns: see Configure and Create).
type create func(inputs resource.PropertyMap) (resource.PropertyMap, error)

// Provider is a stand-in plugin: a name, the version it reports, and the
// resources it creates by type token. Every input change replaces the
// resource, as the real providers do for the resources nano uses.
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	Name, Version string
	Resources     map[string]create
}

var marshal = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true}

// Serve runs the plugin as the engine expects: a gRPC server on a loopback
// port, the port printed on stdout.
func Serve(p *Provider) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	pulumirpc.RegisterResourceProviderServer(srv, p)
	fmt.Fprintf(os.Stdout, "%d\n", l.Addr().(*net.TCPAddr).Port)
	return srv.Serve(l)
}

func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.Version}, nil
}

func (p *Provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, p.Name, p.Version)}, nil
}

func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.News}, nil
}

func (p *Provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// Configure declines secrets and previews: the engine then sends plain
// values, marks the outputs of secret inputs secret itself, and computes
// nothing during a preview (every output is unknown there).
func (p *Provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{}, nil
}

func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if _, ok := p.Resources[req.GetType()]; !ok && req.GetType() != "" {
		return nil, fmt.Errorf("%s stand-in: resource type %q is not one nano uses", p.Name, req.GetType())
	}
	return &pulumirpc.CheckResponse{Inputs: req.News}, nil
}

// Diff replaces the resource when an input differs from the one it was
// created with.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	// The old inputs when the engine has them (an empty set is a set: a
	// RandomUuid takes none); else the old outputs, which hold the inputs.
	haveInputs := req.GetOldInputs() != nil
	old := req.GetOldInputs()
	if !haveInputs {
		old = req.GetOlds()
	}
	olds, err := plugin.UnmarshalProperties(old, marshal)
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), marshal)
	if err != nil {
		return nil, err
	}
	var changed []string
	for k, v := range news {
		if o, ok := olds[k]; !ok || !o.DeepEquals(v) {
			changed = append(changed, string(k))
		}
	}
	if haveInputs {
		for k := range olds {
			if _, ok := news[k]; !ok {
				changed = append(changed, string(k))
			}
		}
	}
	sort.Strings(changed)
	if len(changed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: changed, Diffs: changed}, nil
}

func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	typ := req.GetType()
	if typ == "" {
		typ = string(resource.URN(req.GetUrn()).Type())
	}
	fn, ok := p.Resources[typ]
	if !ok {
		return nil, fmt.Errorf("%s stand-in: resource type %q is not one nano uses", p.Name, typ)
	}
	ins, err := plugin.UnmarshalProperties(req.GetProperties(), marshal)
	if err != nil {
		return nil, err
	}
	if ins.ContainsUnknowns() {
		return nil, fmt.Errorf("%s stand-in: %s has unknown inputs outside a preview", p.Name, typ)
	}
	outs, err := fn(ins)
	if err != nil {
		return nil, fmt.Errorf("%s stand-in: %s: %w", p.Name, typ, err)
	}
	for k, v := range ins {
		if _, ok := outs[k]; !ok {
			outs[k] = v
		}
	}
	st, err := plugin.MarshalProperties(outs, marshal)
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(req.GetName()+"-", 8, 0)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: st}, nil
}

// Read returns the state as it is: nothing outside the state backs these
// resources. The inputs are returned too, even when empty (a RandomUuid
// has none): without them the engine would take the outputs as inputs and
// the next Diff would see every output as a removed input.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	inputs := req.GetInputs()
	if inputs == nil {
		inputs = &structpb.Struct{Fields: map[string]*structpb.Value{}}
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: inputs}, nil
}

func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return nil, fmt.Errorf("%s stand-in: %s changes by replacement only", p.Name, req.GetType())
}

func (p *Provider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Input readers: the value of key, or def when it is unset.
func str(in resource.PropertyMap, key string, def string) string {
	if v, ok := in[resource.PropertyKey(key)]; ok && v.IsString() {
		return v.StringValue()
	}
	return def
}

func num(in resource.PropertyMap, key string, def int) int {
	if v, ok := in[resource.PropertyKey(key)]; ok && v.IsNumber() {
		return int(v.NumberValue())
	}
	return def
}

func boolean(in resource.PropertyMap, key string, def bool) bool {
	if v, ok := in[resource.PropertyKey(key)]; ok && v.IsBool() {
		return v.BoolValue()
	}
	return def
}

func strs(in resource.PropertyMap, key string) []string {
	v, ok := in[resource.PropertyKey(key)]
	if !ok || !v.IsArray() {
		return nil
	}
	var out []string
	for _, e := range v.ArrayValue() {
		if e.IsString() {
			out = append(out, e.StringValue())
		}
	}
	return out
}

func object(in resource.PropertyMap, key string) resource.PropertyMap {
	if v, ok := in[resource.PropertyKey(key)]; ok && v.IsObject() {
		return v.ObjectValue()
	}
	return resource.PropertyMap{}
}
