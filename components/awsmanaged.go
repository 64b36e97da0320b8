package components

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	stacklabels "github.com/nanosiem/nano/stacks/model/labels"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// RDS settings of Enterprise's metadata database.
const (
	rdsEngineVersion = "17"
	rdsMaxStorageGB  = 1000
)

// newRDS creates RDS for PostgreSQL in the VPC's private subnets: not
// publicly accessible, reachable only from the cluster's nodes, Multi-AZ
// (a synchronous standby with automatic failover), storage encrypted,
// automated backups, deletion protection (the cloud's and Pulumi's, unless
// nano:protectData is false) and a final snapshot. It returns
// the database's libpq URI (secret).
func newRDS(ctx *pulumi.Context, name string, s settings.Settings, net *awsNetwork, password pulumi.StringOutput, parent pulumi.ResourceOption) (pulumi.StringOutput, []pulumi.Resource, error) {
	class, err := tier.ManagedPostgresClass(s.Provider, tier.ManagedPostgresMachine)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	tags := pulumi.ToStringMap(stacklabels.For(s.Deployment, s.Tier.Name))
	subnets, err := rds.NewSubnetGroup(ctx, name+"-postgres", &rds.SubnetGroupArgs{SubnetIds: net.privateSubnets, Tags: tags}, parent)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	sg, err := ec2.NewSecurityGroup(ctx, name+"-postgres", &ec2.SecurityGroupArgs{
		VpcId: net.vpc.ID(), Description: pulumi.String("nano PostgreSQL: the cluster's nodes only"), Tags: tags,
		Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(managedPostgresPort), ToPort: pulumi.Int(managedPostgresPort),
			SecurityGroups: pulumi.StringArray{net.nodeSecurityGroup}, Description: pulumi.String("EKS nodes"),
		}},
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	db, err := rds.NewInstance(ctx, name+"-postgres", &rds.InstanceArgs{
		Engine: pulumi.String("postgres"), EngineVersion: pulumi.String(rdsEngineVersion), InstanceClass: pulumi.String(class),
		AllocatedStorage: pulumi.Int(managedPostgresDiskGB), MaxAllocatedStorage: pulumi.Int(rdsMaxStorageGB),
		StorageType: pulumi.String("gp3"), StorageEncrypted: pulumi.Bool(true),
		MultiAz: pulumi.Bool(true), PubliclyAccessible: pulumi.Bool(false),
		DbSubnetGroupName: subnets.Name, VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		DbName: pulumi.String("nano"), Username: pulumi.String("nano"), Password: password,
		BackupRetentionPeriod: pulumi.Int(s.Tier.Postgres.BackupRetentionDays), DeletionProtection: pulumi.Bool(s.ProtectData),
		SkipFinalSnapshot: pulumi.Bool(false), FinalSnapshotIdentifier: pulumi.String(s.Deployment + "-final"),
		CopyTagsToSnapshot: pulumi.Bool(true), AutoMinorVersionUpgrade: pulumi.Bool(true),
		Tags: tags,
	}, parent, pulumi.Protect(s.ProtectData))
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	return postgresURI(db.Address, password), []pulumi.Resource{db}, nil
}

// newPrivateLink reaches the ClickHouse Cloud service over AWS PrivateLink:
// an interface VPC endpoint to the service's endpoint service in the
// private subnets, with private DNS so the service's hostname resolves to
// the endpoint inside the VPC, admitting the cluster's nodes on
// ClickHouse's secure ports only.
// It returns the endpoint's ID, which the ClickHouse Cloud service must
// admit (its private endpoint allow list) before traffic flows.
func newPrivateLink(ctx *pulumi.Context, name string, s settings.Settings, net *awsNetwork, parent pulumi.ResourceOption) ([]pulumi.Resource, pulumi.StringOutput, error) {
	tags := pulumi.ToStringMap(stacklabels.For(s.Deployment, s.Tier.Name))
	var ingress ec2.SecurityGroupIngressArray
	for _, port := range []int{clickHouseCloudNativePort, clickHouseCloudHTTPSPort} {
		ingress = append(ingress, ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(port), ToPort: pulumi.Int(port),
			SecurityGroups: pulumi.StringArray{net.nodeSecurityGroup}, Description: pulumi.String("EKS nodes"),
		})
	}
	sg, err := ec2.NewSecurityGroup(ctx, name+"-clickhouse-endpoint", &ec2.SecurityGroupArgs{
		VpcId: net.vpc.ID(), Description: pulumi.String("nano ClickHouse Cloud PrivateLink endpoint"), Ingress: ingress, Tags: tags,
	}, parent)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	endpoint, err := ec2.NewVpcEndpoint(ctx, name+"-clickhouse", &ec2.VpcEndpointArgs{
		VpcId: net.vpc.ID(), ServiceName: pulumi.String(s.ClickHouseCloud.EndpointService),
		VpcEndpointType: pulumi.String("Interface"), SubnetIds: net.privateSubnets,
		SecurityGroupIds: pulumi.StringArray{sg.ID()}, PrivateDnsEnabled: pulumi.Bool(true), Tags: tags,
	}, parent)
	if err != nil {
		return nil, pulumi.StringOutput{}, err
	}
	return []pulumi.Resource{endpoint}, endpoint.ID().ToStringOutput(), nil
}
