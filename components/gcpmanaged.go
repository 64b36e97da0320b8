package components

import (
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/dns"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/servicenetworking"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/sql"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	stacklabels "github.com/nanosiem/nano/stacks/model/labels"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// Cloud SQL settings of Enterprise's metadata database.
const (
	cloudSQLVersion       = "POSTGRES_17"
	managedPostgresDiskGB = 100
)

// newCloudSQL creates Cloud SQL for PostgreSQL reachable only on the
// deployment's VPC (private services access, no public IP, TLS required),
// regional (HA with automatic failover), with automated backups and
// point-in-time recovery, deletion protection (the cloud's and Pulumi's,
// unless nano:protectData is false), and Google-managed
// encryption at rest. It returns the database's libpq URI (secret).
func newCloudSQL(ctx *pulumi.Context, name string, s settings.Settings, net *gkeNetwork, password pulumi.StringOutput, parent pulumi.ResourceOption) (pulumi.StringOutput, []pulumi.Resource, error) {
	class, err := tier.ManagedPostgresClass(s.Provider, tier.ManagedPostgresMachine)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	peering, err := compute.NewGlobalAddress(ctx, name+"-sql-peering", &compute.GlobalAddressArgs{
		Purpose: pulumi.String("VPC_PEERING"), AddressType: pulumi.String("INTERNAL"), PrefixLength: pulumi.Int(20),
		Network: net.network.ID(),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	conn, err := servicenetworking.NewConnection(ctx, name+"-sql-peering", &servicenetworking.ConnectionArgs{
		Network: net.network.ID(), Service: pulumi.String("servicenetworking.googleapis.com"),
		ReservedPeeringRanges: pulumi.StringArray{peering.Name},
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	db, err := sql.NewDatabaseInstance(ctx, name+"-postgres", &sql.DatabaseInstanceArgs{
		DatabaseVersion: pulumi.String(cloudSQLVersion), Region: pulumi.String(s.Region),
		DeletionProtection: pulumi.Bool(s.ProtectData),
		Settings: &sql.DatabaseInstanceSettingsArgs{
			Tier: pulumi.String(class), AvailabilityType: pulumi.String("REGIONAL"),
			DiskType: pulumi.String("PD_SSD"), DiskSize: pulumi.Int(managedPostgresDiskGB), DiskAutoresize: pulumi.Bool(true),
			DeletionProtectionEnabled: pulumi.Bool(s.ProtectData),
			IpConfiguration: &sql.DatabaseInstanceSettingsIpConfigurationArgs{
				Ipv4Enabled: pulumi.Bool(false), PrivateNetwork: net.network.ID(), SslMode: pulumi.String("ENCRYPTED_ONLY"),
			},
			BackupConfiguration: &sql.DatabaseInstanceSettingsBackupConfigurationArgs{
				Enabled: pulumi.Bool(true), PointInTimeRecoveryEnabled: pulumi.Bool(true),
				BackupRetentionSettings: &sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs{
					RetainedBackups: pulumi.Int(s.Tier.Postgres.BackupRetentionDays),
				},
			},
			UserLabels: pulumi.ToStringMap(stacklabels.For(s.Deployment, s.Tier.Name)),
		},
	}, parent, pulumi.DependsOn([]pulumi.Resource{conn}), pulumi.Protect(s.ProtectData))
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	database, err := sql.NewDatabase(ctx, name+"-postgres-nano", &sql.DatabaseArgs{Instance: db.Name, Name: pulumi.String("nano")}, parent, pulumi.Protect(s.ProtectData))
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	user, err := sql.NewUser(ctx, name+"-postgres-nano", &sql.UserArgs{
		Instance: db.Name, Name: pulumi.String("nano"), Password: password,
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	return postgresURI(db.PrivateIpAddress, password), []pulumi.Resource{database, user}, nil
}

// newPrivateServiceConnect reaches the ClickHouse Cloud service over
// Private Service Connect: an internal address in the nodes' subnet, a
// forwarding rule to the service attachment, and a private DNS zone that
// resolves the service's hostname to that address inside the VPC only. It
// returns the PSC connection ID, which the ClickHouse Cloud service must
// admit (its private endpoint allow list) before traffic flows.
func newPrivateServiceConnect(ctx *pulumi.Context, name string, s settings.Settings, net *gkeNetwork, parent pulumi.ResourceOption) ([]pulumi.Resource, pulumi.StringOutput, error) {
	labels := pulumi.ToStringMap(stacklabels.For(s.Deployment, s.Tier.Name))
	addr, err := compute.NewAddress(ctx, name+"-clickhouse-psc", &compute.AddressArgs{
		Region: pulumi.String(s.Region), Subnetwork: net.subnet.ID(), AddressType: pulumi.String("INTERNAL"), Labels: labels,
	}, parent)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	rule, err := compute.NewForwardingRule(ctx, name+"-clickhouse-psc", &compute.ForwardingRuleArgs{
		Region: pulumi.String(s.Region), Network: net.network.ID(), IpAddress: addr.ID(),
		Target: pulumi.String(s.ClickHouseCloud.EndpointService), LoadBalancingScheme: pulumi.String(""), Labels: labels,
	}, parent)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	domain := s.ClickHouseCloud.Host[strings.Index(s.ClickHouseCloud.Host, ".")+1:]
	zone, err := dns.NewManagedZone(ctx, name+"-clickhouse", &dns.ManagedZoneArgs{
		DnsName: pulumi.String(domain + "."), Visibility: pulumi.String("private"), Labels: labels,
		Description: pulumi.String("nano " + s.Deployment + ": ClickHouse Cloud over Private Service Connect"),
		PrivateVisibilityConfig: &dns.ManagedZonePrivateVisibilityConfigArgs{
			Networks: dns.ManagedZonePrivateVisibilityConfigNetworkArray{dns.ManagedZonePrivateVisibilityConfigNetworkArgs{
				NetworkUrl: net.network.ID(),
			}},
		},
	}, parent)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	record, err := dns.NewRecordSet(ctx, name+"-clickhouse", &dns.RecordSetArgs{
		ManagedZone: zone.Name, Name: pulumi.String(s.ClickHouseCloud.Host + "."), Type: pulumi.String("A"),
		Ttl: pulumi.Int(300), Rrdatas: pulumi.StringArray{addr.Address},
	}, parent)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	return []pulumi.Resource{rule, record}, rule.PscConnectionId, nil
}

// postgresURI is the libpq URI of nano's database on host (TLS required).
func postgresURI(host pulumi.StringOutput, password pulumi.StringOutput) pulumi.StringOutput {
	return secret(pulumi.Sprintf("postgres://nano:%s@%s:%d/nano?sslmode=require", password, host, managedPostgresPort))
}
