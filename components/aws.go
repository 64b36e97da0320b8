package components

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	storagev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/storage/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeconfig"
)

// EKS network layout: a public and a private subnet in each of three zones;
// load balancers in the public ones, nodes and databases in the private
// ones, egress through one NAT gateway.
const (
	awsVPCCIDR      = "10.30.0.0/16"
	awsZones        = 3
	eksStorageClass = "nano-gp3"
)

var (
	awsPublicCIDRs  = [awsZones]string{"10.30.0.0/20", "10.30.16.0/20", "10.30.32.0/20"}
	awsPrivateCIDRs = [awsZones]string{"10.30.64.0/19", "10.30.96.0/19", "10.30.128.0/19"}
)

// awsNetwork is the deployment's VPC on AWS.
type awsNetwork struct {
	vpc            *ec2.Vpc
	privateSubnets pulumi.StringArray
	// nodeSecurityGroup is the cluster security group EKS puts on nodes.
	nodeSecurityGroup pulumi.StringOutput
}

// newAWSNetwork builds the VPC, its subnets, the internet and NAT gateways
// and the route tables.
func newAWSNetwork(ctx *pulumi.Context, name string, tags pulumi.StringMap, parent pulumi.ResourceOption) (*awsNetwork, pulumi.StringArray, error) {
	zones := aws.GetAvailabilityZonesOutput(ctx, aws.GetAvailabilityZonesOutputArgs{State: pulumi.String("available")})
	vpc, err := ec2.NewVpc(ctx, name+"-vpc", &ec2.VpcArgs{
		CidrBlock: pulumi.String(awsVPCCIDR), EnableDnsHostnames: pulumi.Bool(true), EnableDnsSupport: pulumi.Bool(true),
		Tags: withTag(tags, "Name", name),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	igw, err := ec2.NewInternetGateway(ctx, name+"-igw", &ec2.InternetGatewayArgs{VpcId: vpc.ID(), Tags: tags}, parent)
	if err != nil {
		return nil, nil, err
	}
	// routeTable makes a route table whose default route is route, and
	// subnets one subnet per zone associated with it.
	routeTable := func(suffix string, route ec2.RouteTableRouteArgs) (*ec2.RouteTable, error) {
		route.CidrBlock = pulumi.String("0.0.0.0/0")
		return ec2.NewRouteTable(ctx, name+"-"+suffix, &ec2.RouteTableArgs{
			VpcId: vpc.ID(), Routes: ec2.RouteTableRouteArray{route}, Tags: tags,
		}, parent)
	}
	subnets := func(suffix string, cidrs [awsZones]string, role string, mapPublicIP pulumi.BoolPtrInput, rt *ec2.RouteTable) ([]*ec2.Subnet, error) {
		var out []*ec2.Subnet
		for i := 0; i < awsZones; i++ {
			resName := fmt.Sprintf("%s-%s-%d", name, suffix, i)
			sub, err := ec2.NewSubnet(ctx, resName, &ec2.SubnetArgs{
				VpcId: vpc.ID(), CidrBlock: pulumi.String(cidrs[i]), AvailabilityZone: zones.Names().Index(pulumi.Int(i)),
				MapPublicIpOnLaunch: mapPublicIP, Tags: withTag(tags, role, "1"),
			}, parent)
			if err != nil {
				return nil, err
			}
			if _, err := ec2.NewRouteTableAssociation(ctx, resName, &ec2.RouteTableAssociationArgs{
				SubnetId: sub.ID(), RouteTableId: rt.ID(),
			}, parent); err != nil {
				return nil, err
			}
			out = append(out, sub)
		}
		return out, nil
	}
	publicRT, err := routeTable("public", ec2.RouteTableRouteArgs{GatewayId: igw.ID()})
	if err != nil {
		return nil, nil, err
	}
	publicSubnets, err := subnets("public", awsPublicCIDRs, "kubernetes.io/role/elb", pulumi.Bool(false), publicRT)
	if err != nil {
		return nil, nil, err
	}
	var public pulumi.StringArray
	for _, sub := range publicSubnets {
		public = append(public, sub.ID())
	}
	eip, err := ec2.NewEip(ctx, name+"-nat", &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags}, parent)
	if err != nil {
		return nil, nil, err
	}
	nat, err := ec2.NewNatGateway(ctx, name+"-nat", &ec2.NatGatewayArgs{
		AllocationId: eip.ID(), SubnetId: publicSubnets[0].ID(), Tags: tags,
	}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
	if err != nil {
		return nil, nil, err
	}
	privateRT, err := routeTable("private", ec2.RouteTableRouteArgs{NatGatewayId: nat.ID()})
	if err != nil {
		return nil, nil, err
	}
	privateSubnets, err := subnets("private", awsPrivateCIDRs, "kubernetes.io/role/internal-elb", nil, privateRT)
	if err != nil {
		return nil, nil, err
	}
	net := &awsNetwork{vpc: vpc}
	for _, sub := range privateSubnets {
		net.privateSubnets = append(net.privateSubnets, sub.ID())
	}
	return net, public, nil
}

// newEKS builds an EKS cluster in a dedicated VPC: nodes in private
// subnets, the API endpoint public only to spec.APIAllowedCIDRs (and
// private inside the VPC), Kubernetes secrets encrypted with a KMS key, the
// VPC CNI enforcing NetworkPolicies, the EBS CSI driver and an encrypted
// gp3 storage class, and one managed node group per spec pool (spot where
// the catalog says so).
func newEKS(ctx *pulumi.Context, spec clusterSpec, parent pulumi.ResourceOption) (*builtCluster, *awsNetwork, error) {
	tags := pulumi.ToStringMap(spec.Labels)
	net, public, err := newAWSNetwork(ctx, spec.Name, tags, parent)
	if err != nil {
		return nil, nil, err
	}
	clusterRole, err := newServiceRole(ctx, spec.Name+"-cluster", "eks.amazonaws.com", tags, parent,
		"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
	if err != nil {
		return nil, nil, err
	}
	nodeRole, err := newServiceRole(ctx, spec.Name+"-node", "ec2.amazonaws.com", tags, parent,
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
		"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly", "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy")
	if err != nil {
		return nil, nil, err
	}
	key, err := kms.NewKey(ctx, spec.Name+"-secrets", &kms.KeyArgs{
		Description: pulumi.String("nano " + spec.Deployment + ": Kubernetes secrets"), EnableKeyRotation: pulumi.Bool(true), Tags: tags,
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	subnets := append(append(pulumi.StringArray{}, net.privateSubnets...), public...)
	cluster, err := eks.NewCluster(ctx, spec.Name+"-eks", &eks.ClusterArgs{
		RoleArn: clusterRole.role.Arn, Tags: tags,
		VpcConfig: &eks.ClusterVpcConfigArgs{
			SubnetIds: subnets, EndpointPrivateAccess: pulumi.Bool(true), EndpointPublicAccess: pulumi.Bool(true),
			PublicAccessCidrs: pulumi.ToStringArray(ipv4Only(spec.APIAllowedCIDRs)),
		},
		AccessConfig: &eks.ClusterAccessConfigArgs{
			AuthenticationMode: pulumi.String("API_AND_CONFIG_MAP"), BootstrapClusterCreatorAdminPermissions: pulumi.Bool(true),
		},
		EncryptionConfig: &eks.ClusterEncryptionConfigArgs{
			Provider: &eks.ClusterEncryptionConfigProviderArgs{KeyArn: key.Arn}, Resources: pulumi.ToStringArray([]string{"secrets"}),
		},
		EnabledClusterLogTypes: pulumi.ToStringArray([]string{"api", "audit", "authenticator"}),
	}, parent, pulumi.DependsOn(clusterRole.attachments))
	if err != nil {
		return nil, nil, err
	}
	net.nodeSecurityGroup = cluster.VpcConfig.ClusterSecurityGroupId().Elem()
	cni, err := eks.NewAddon(ctx, spec.Name+"-vpc-cni", &eks.AddonArgs{
		ClusterName: cluster.Name, AddonName: pulumi.String("vpc-cni"),
		ConfigurationValues:      pulumi.String(`{"enableNetworkPolicy":"true"}`),
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"), ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"), Tags: tags,
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	var ready []pulumi.Resource
	for _, p := range spec.Pools {
		capacity := "ON_DEMAND"
		if p.Spot {
			capacity = "SPOT"
		}
		var taints eks.NodeGroupTaintArray
		if k, v, ok := p.taint(); ok {
			taints = eks.NodeGroupTaintArray{eks.NodeGroupTaintArgs{Key: pulumi.String(k), Value: pulumi.String(v), Effect: pulumi.String("NO_SCHEDULE")}}
		}
		group, err := eks.NewNodeGroup(ctx, spec.Name+"-"+string(p.Role), &eks.NodeGroupArgs{
			ClusterName: cluster.Name, NodeRoleArn: nodeRole.role.Arn, SubnetIds: net.privateSubnets,
			InstanceTypes: pulumi.ToStringArray([]string{p.MachineType}), CapacityType: pulumi.String(capacity),
			ScalingConfig: &eks.NodeGroupScalingConfigArgs{
				DesiredSize: pulumi.Int(p.Nodes), MinSize: pulumi.Int(p.Nodes), MaxSize: pulumi.Int(p.Nodes),
			},
			DiskSize: pulumi.Int(100), Labels: pulumi.ToStringMap(p.nodeLabels()), Taints: taints, Tags: tags,
		}, parent, pulumi.DependsOn(append([]pulumi.Resource{cni}, nodeRole.attachments...)))
		if err != nil {
			return nil, nil, err
		}
		ready = append(ready, group)
	}
	ebs, err := eks.NewAddon(ctx, spec.Name+"-ebs-csi", &eks.AddonArgs{
		ClusterName: cluster.Name, AddonName: pulumi.String("aws-ebs-csi-driver"),
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"), Tags: tags,
	}, parent, pulumi.DependsOn(ready))
	if err != nil {
		return nil, nil, err
	}
	kc := pulumi.All(cluster.Endpoint, cluster.CertificateAuthority.Data().Elem(), cluster.Name).ApplyT(func(v []any) (string, error) {
		return kubeconfig.Exec(v[0].(string), v[1].(string), kubeconfig.Plugin{
			Command: "aws", Args: []string{"eks", "get-token", "--cluster-name", v[2].(string), "--region", spec.Region, "--output", "json"},
			InstallHint: "nano's EKS kubeconfig needs the AWS CLI v2 (aws eks get-token) with credentials for the account",
		})
	}).(pulumi.StringOutput)
	kc = secret(kc)
	provider, err := kubernetes.NewProvider(ctx, spec.Name+"-eks", &kubernetes.ProviderArgs{Kubeconfig: kc},
		parent, pulumi.DependsOn(append(ready, ebs)))
	if err != nil {
		return nil, nil, err
	}
	sc, err := storagev1.NewStorageClass(ctx, spec.Name+"-gp3", &storagev1.StorageClassArgs{
		Metadata:    &metav1.ObjectMetaArgs{Name: pulumi.String(eksStorageClass), Labels: pulumi.ToStringMap(spec.Labels)},
		Provisioner: pulumi.String("ebs.csi.aws.com"),
		Parameters:  pulumi.StringMap{"type": pulumi.String("gp3"), "encrypted": pulumi.String("true")},
		// Volumes outlive their claims: ClickHouse and PostgreSQL data is
		// deleted by an operator, never by a rescheduled pod.
		ReclaimPolicy: pulumi.String("Retain"), VolumeBindingMode: pulumi.String("WaitForFirstConsumer"),
		AllowVolumeExpansion: pulumi.Bool(true),
	}, parent, pulumi.Provider(provider))
	if err != nil {
		return nil, nil, err
	}
	return &builtCluster{
		Kubeconfig: kc, Provider: provider, StorageClass: eksStorageClass, Ready: append(ready, ebs, sc),
	}, net, nil
}

// serviceRole is an IAM role an AWS service assumes, with managed policies.
type serviceRole struct {
	role        *iam.Role
	attachments []pulumi.Resource
}

func newServiceRole(ctx *pulumi.Context, name, service string, tags pulumi.StringMap, parent pulumi.ResourceOption, policies ...string) (*serviceRole, error) {
	assume, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"Service": service},
		}},
	})
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{AssumeRolePolicy: pulumi.String(string(assume)), Tags: tags}, parent)
	if err != nil {
		return nil, err
	}
	r := &serviceRole{role: role}
	for i, p := range policies {
		a, err := iam.NewRolePolicyAttachment(ctx, fmt.Sprintf("%s-%d", name, i), &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: pulumi.String(p),
		}, parent)
		if err != nil {
			return nil, err
		}
		r.attachments = append(r.attachments, a)
	}
	return r, nil
}

// newS3WarmBucket creates the warm tier's bucket on S3: public access
// blocked, encrypted at rest, and an IAM user whose key may only use it.
func newS3WarmBucket(ctx *pulumi.Context, name, deployment, region string, labels map[string]string, parent, keep pulumi.ResourceOption) (*WarmBucket, error) {
	tags := pulumi.ToStringMap(labels)
	bucket, err := s3.NewBucketV2(ctx, name+"-warm", &s3.BucketV2Args{Tags: tags, ForceDestroy: pulumi.Bool(false)}, parent, keep)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name+"-warm", &s3.BucketPublicAccessBlockArgs{
		Bucket: bucket.ID(), BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, parent); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name+"-warm", &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}},
	}, parent); err != nil {
		return nil, err
	}
	user, err := iam.NewUser(ctx, name+"-warm", &iam.UserArgs{Tags: tags}, parent)
	if err != nil {
		return nil, err
	}
	policy := bucket.Arn.ApplyT(func(arn string) (string, error) {
		b, err := json.Marshal(map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{
				map[string]any{"Effect": "Allow", "Action": []string{"s3:ListBucket", "s3:GetBucketLocation"}, "Resource": arn},
				map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}, "Resource": arn + "/*"},
			},
		})
		return string(b), err
	}).(pulumi.StringOutput)
	if _, err := iam.NewUserPolicy(ctx, name+"-warm", &iam.UserPolicyArgs{User: user.Name, Policy: policy}, parent); err != nil {
		return nil, err
	}
	key, err := iam.NewAccessKey(ctx, name+"-warm", &iam.AccessKeyArgs{User: user.Name}, parent)
	if err != nil {
		return nil, err
	}
	return &WarmBucket{
		Endpoint: pulumi.Sprintf("https://s3.%s.amazonaws.com/%s/%s/", region, bucket.Bucket, deployment), Region: pulumi.String(region),
		AccessKeyID: secret(key.ID().ToStringOutput()), SecretAccessKey: secret(key.Secret),
	}, nil
}

// withTag returns tags plus one more.
func withTag(tags pulumi.StringMap, k, v string) pulumi.StringMap {
	out := pulumi.StringMap{k: pulumi.String(v)}
	for key, val := range tags {
		out[key] = val
	}
	return out
}
