package components

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// ManagedEnterpriseType is the type token of ManagedEnterprise.
const ManagedEnterpriseType = "nano:index:ManagedEnterprise"

// Ports of the managed databases.
const (
	clickHouseCloudNativePort = 9440 // native protocol over TLS
	clickHouseCloudHTTPSPort  = 8443
	managedPostgresPort       = 5432
)

// ManagedEnterpriseArgs configure an Enterprise deployment.
type ManagedEnterpriseArgs struct {
	// Settings are the stack's validated settings; Tier.Kind must be
	// tier.Managed, with the volume band and the ClickHouse Cloud service.
	Settings settings.Settings
}

// ManagedEnterprise is an Enterprise deployment: a GKE or EKS cluster with
// app and ingest pools sized by the daily volume's band, ClickHouse on
// ClickHouse Cloud reached privately (AWS PrivateLink or GCP Private
// Service Connect, with private DNS for the service's hostname), PostgreSQL
// on RDS or Cloud SQL (private only, encrypted, HA, automated backups,
// deletion protection), and nano's Platform with 4 replicas of each
// service pinned to their pools.
type ManagedEnterprise struct {
	pulumi.ResourceState
	CloudClusterOutputs
	// ClickHousePrivateEndpointID is the VPC endpoint ID (AWS) or PSC
	// connection ID (GCP) to add to the ClickHouse Cloud service's private
	// endpoints; until then ClickHouse Cloud refuses the connection.
	ClickHousePrivateEndpointID pulumi.StringOutput `pulumi:"clickhousePrivateEndpointId"`
}

var managedEnterprise = cloudComponent{
	typ: ManagedEnterpriseType, kind: tier.Managed, providers: []tier.Provider{tier.GCP, tier.AWS},
}

// NewManagedEnterprise builds an Enterprise deployment.
func NewManagedEnterprise(ctx *pulumi.Context, name string, args *ManagedEnterpriseArgs, opts ...pulumi.ResourceOption) (*ManagedEnterprise, error) {
	if args == nil {
		return nil, errors.New("ManagedEnterprise: args are required")
	}
	s := args.Settings
	cc := managedEnterprise
	cc.check = func(bad func(string, ...any)) {
		if c := s.ClickHouseCloud; c == nil || c.EndpointService == "" || c.Host == "" || c.Password == "" {
			bad("the ClickHouse Cloud service (endpoint service, host, password) is required")
		}
		if s.Band.Label == "" {
			bad("the daily volume's band is required (nano:%s)", settings.KeyDailyVolumeGB)
		}
	}
	e := &ManagedEnterprise{}
	cc.extra = func(ctx *pulumi.Context, name string, d *cloudDeployment, parent pulumi.ResourceOption) (*platformInputs, error) {
		in, err := enterpriseDatabases(ctx, name, s, d, parent)
		if in != nil {
			e.ClickHousePrivateEndpointID = in.privateEndpointID
		}
		return in, err
	}
	if err := cc.build(ctx, name, s, e, &e.CloudClusterOutputs, opts...); err != nil {
		return nil, err
	}
	return e, nil
}

// enterpriseDatabases connects ClickHouse Cloud privately and creates the
// managed PostgreSQL, in the network the cluster was built in.
func enterpriseDatabases(ctx *pulumi.Context, name string, s settings.Settings, d *cloudDeployment, parent pulumi.ResourceOption) (*platformInputs, error) {
	pw, err := random.NewRandomPassword(ctx, name+"-postgres-password", &random.RandomPasswordArgs{
		Length: pulumi.Int(32), Special: pulumi.Bool(false),
	}, parent)
	if err != nil {
		return nil, err
	}
	password := secret(pw.Result)
	var uri pulumi.StringOutput
	var pgDeps, chDeps []pulumi.Resource
	var endpointID pulumi.StringOutput
	switch {
	case d.gcp != nil:
		if uri, pgDeps, err = newCloudSQL(ctx, name, s, d.gcp, password, parent); err != nil {
			return nil, err
		}
		if chDeps, endpointID, err = newPrivateServiceConnect(ctx, name, s, d.gcp, parent); err != nil {
			return nil, err
		}
	case d.aws != nil:
		if uri, pgDeps, err = newRDS(ctx, name, s, d.aws, password, parent); err != nil {
			return nil, err
		}
		if chDeps, endpointID, err = newPrivateLink(ctx, name, s, d.aws, parent); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("ManagedEnterprise: no managed databases on %q", s.Provider)
	}
	return &platformInputs{
		clickHouse:         &kubeobjects.Endpoint{Host: s.ClickHouseCloud.Host, Port: clickHouseCloudNativePort},
		postgres:           &kubeobjects.Endpoint{Port: managedPostgresPort},
		clickHouseUser:     s.ClickHouseCloud.User,
		clickHousePassword: secret(pulumi.String(s.ClickHouseCloud.Password).ToStringOutput()),
		postgresURI:        uri,
		dependsOn:          append(pgDeps, chDeps...),
		privateEndpointID:  endpointID,
	}, nil
}
