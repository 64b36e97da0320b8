package components

import (
	"encoding/json"
	"fmt"
	"strconv"

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
	"github.com/nanosiem/nano/components/s3policy"
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
	roles, err := newEKSRoles(ctx, spec.Name, tags, parent)
	if err != nil {
		return nil, nil, err
	}
	nodes, err := newEKSLaunchTemplate(ctx, spec.Name, tags, parent)
	if err != nil {
		return nil, nil, err
	}
	subnets := append(append(pulumi.StringArray{}, net.privateSubnets...), public...)
	cluster, err := newEKSCluster(ctx, spec, roles.cluster, subnets, tags, parent)
	if err != nil {
		return nil, nil, err
	}
	net.nodeSecurityGroup = cluster.VpcConfig.ClusterSecurityGroupId().Elem()
	ready, err := newEKSNodeGroups(ctx, spec, cluster, roles.node, nodes, net.privateSubnets, tags, parent)
	if err != nil {
		return nil, nil, err
	}
	ebs, err := newEBSCSIDriver(ctx, spec.Name, cluster, roles.ebs, ready, tags, parent)
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

// eksRoles are the IAM roles of an EKS cluster: the control plane's, the
// nodes' and the EBS CSI driver's.
type eksRoles struct{ cluster, node, ebs *serviceRole }

// newEKSRoles makes the cluster's roles. The nodes' has what the kubelet
// and the VPC CNI need, nothing for volumes (the EBS CSI driver's rights
// are its own, through Pod Identity).
func newEKSRoles(ctx *pulumi.Context, name string, tags pulumi.StringMap, parent pulumi.ResourceOption) (*eksRoles, error) {
	var r eksRoles
	var err error
	if r.cluster, err = newServiceRole(ctx, name+"-cluster", "eks.amazonaws.com", tags, parent,
		"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"); err != nil {
		return nil, err
	}
	if r.node, err = newServiceRole(ctx, name+"-node", "ec2.amazonaws.com", tags, parent,
		"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
		"arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"); err != nil {
		return nil, err
	}
	if r.ebs, err = newServiceRole(ctx, name+"-ebs-csi", podIdentityService, tags, parent,
		"arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"); err != nil {
		return nil, err
	}
	return &r, nil
}

// newEKSCluster is the control plane: its API public only to
// spec.APIAllowedCIDRs (and private inside the VPC), Kubernetes secrets
// encrypted with a KMS key of the deployment's, its API, audit and
// authenticator logs kept.
func newEKSCluster(ctx *pulumi.Context, spec clusterSpec, role *serviceRole, subnets pulumi.StringArray, tags pulumi.StringMap, parent pulumi.ResourceOption) (*eks.Cluster, error) {
	key, err := kms.NewKey(ctx, spec.Name+"-secrets", &kms.KeyArgs{
		Description: pulumi.String("nano " + spec.Deployment + ": Kubernetes secrets"), EnableKeyRotation: pulumi.Bool(true), Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	apiCIDRs, err := spec.apiCIDRs()
	if err != nil {
		return nil, err
	}
	return eks.NewCluster(ctx, spec.Name+"-eks", &eks.ClusterArgs{
		RoleArn: role.role.Arn, Tags: tags,
		VpcConfig: &eks.ClusterVpcConfigArgs{
			SubnetIds: subnets, EndpointPrivateAccess: pulumi.Bool(true), EndpointPublicAccess: pulumi.Bool(true),
			PublicAccessCidrs: pulumi.ToStringArray(apiCIDRs),
		},
		AccessConfig: &eks.ClusterAccessConfigArgs{
			AuthenticationMode: pulumi.String("API_AND_CONFIG_MAP"), BootstrapClusterCreatorAdminPermissions: pulumi.Bool(true),
		},
		EncryptionConfig: &eks.ClusterEncryptionConfigArgs{
			Provider: &eks.ClusterEncryptionConfigProviderArgs{KeyArn: key.Arn}, Resources: pulumi.ToStringArray([]string{"secrets"}),
		},
		EnabledClusterLogTypes: pulumi.ToStringArray([]string{"api", "audit", "authenticator"}),
	}, parent, pulumi.DependsOn(role.attachments))
}

// newEKSNodeGroups installs the VPC CNI enforcing NetworkPolicies, then one
// managed node group per spec pool (spot where the catalog says so) in the
// private subnets; it returns the groups.
func newEKSNodeGroups(ctx *pulumi.Context, spec clusterSpec, cluster *eks.Cluster, nodeRole *serviceRole, nodes *ec2.LaunchTemplate,
	privateSubnets pulumi.StringArray, tags pulumi.StringMap, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	cni, err := eks.NewAddon(ctx, spec.Name+"-vpc-cni", &eks.AddonArgs{
		ClusterName: cluster.Name, AddonName: pulumi.String("vpc-cni"),
		ConfigurationValues:      pulumi.String(`{"enableNetworkPolicy":"true"}`),
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"), ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"), Tags: tags,
	}, parent)
	if err != nil {
		return nil, err
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
			ClusterName: cluster.Name, NodeRoleArn: nodeRole.role.Arn, SubnetIds: privateSubnets,
			InstanceTypes: pulumi.ToStringArray([]string{p.MachineType}), CapacityType: pulumi.String(capacity),
			ScalingConfig: &eks.NodeGroupScalingConfigArgs{
				DesiredSize: pulumi.Int(p.Nodes), MinSize: pulumi.Int(p.Nodes), MaxSize: pulumi.Int(p.Nodes),
			},
			LaunchTemplate: &eks.NodeGroupLaunchTemplateArgs{
				Id: nodes.ID(), Version: nodes.LatestVersion.ApplyT(func(v int) string { return strconv.Itoa(v) }).(pulumi.StringOutput),
			},
			Labels: pulumi.ToStringMap(p.nodeLabels()), Taints: taints, Tags: tags,
		}, parent, pulumi.DependsOn(append([]pulumi.Resource{cni}, nodeRole.attachments...)))
		if err != nil {
			return nil, err
		}
		ready = append(ready, group)
	}
	return ready, nil
}

// newEBSCSIDriver installs the EBS CSI driver once the nodes are ready. Its
// controller's service account gets its role through EKS Pod Identity (the
// agent add-on), so no node carries volume rights.
func newEBSCSIDriver(ctx *pulumi.Context, name string, cluster *eks.Cluster, ebsRole *serviceRole, ready []pulumi.Resource, tags pulumi.StringMap, parent pulumi.ResourceOption) (*eks.Addon, error) {
	agent, err := eks.NewAddon(ctx, name+"-pod-identity", &eks.AddonArgs{
		ClusterName: cluster.Name, AddonName: pulumi.String("eks-pod-identity-agent"),
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"), Tags: tags,
	}, parent, pulumi.DependsOn(ready))
	if err != nil {
		return nil, err
	}
	return eks.NewAddon(ctx, name+"-ebs-csi", &eks.AddonArgs{
		ClusterName: cluster.Name, AddonName: pulumi.String("aws-ebs-csi-driver"),
		ResolveConflictsOnCreate: pulumi.String("OVERWRITE"), Tags: tags,
		PodIdentityAssociations: eks.AddonPodIdentityAssociationArray{eks.AddonPodIdentityAssociationArgs{
			RoleArn: ebsRole.role.Arn, ServiceAccount: pulumi.String(ebsCSIServiceAccount),
		}},
	}, parent, pulumi.DependsOn(append(append([]pulumi.Resource{agent}, ready...), ebsRole.attachments...)))
}

// EKS Pod Identity: the service its roles trust, and the EBS CSI
// controller's service account (the add-on's).
const (
	podIdentityService   = "pods.eks.amazonaws.com"
	ebsCSIServiceAccount = "ebs-csi-controller-sa"
)

// newEKSLaunchTemplate is the nodes' launch template: IMDSv2 only (a
// session token is required) with a hop limit of 1, so a pod's packets,
// one hop further, never get the node role's credentials from the
// instance metadata service; instance tags not exposed there; an
// encrypted 100 GB gp3 root volume.
func newEKSLaunchTemplate(ctx *pulumi.Context, name string, tags pulumi.StringMap, parent pulumi.ResourceOption) (*ec2.LaunchTemplate, error) {
	return ec2.NewLaunchTemplate(ctx, name+"-nodes", &ec2.LaunchTemplateArgs{
		Description: pulumi.String("nano EKS nodes: IMDSv2, hop limit 1, encrypted root volume"),
		MetadataOptions: &ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint: pulumi.String("enabled"), HttpTokens: pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1), InstanceMetadataTags: pulumi.String("disabled"),
		},
		BlockDeviceMappings: ec2.LaunchTemplateBlockDeviceMappingArray{ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String("/dev/xvda"),
			Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				VolumeSize: pulumi.Int(100), VolumeType: pulumi.String("gp3"), Encrypted: pulumi.String("true"),
				DeleteOnTermination: pulumi.String("true"),
			},
		}},
		Tags: tags,
	}, parent)
}

// serviceRole is an IAM role an AWS service assumes, with managed policies.
type serviceRole struct {
	role        *iam.Role
	attachments []pulumi.Resource
}

func newServiceRole(ctx *pulumi.Context, name, service string, tags pulumi.StringMap, parent pulumi.ResourceOption, policies ...string) (*serviceRole, error) {
	actions := []string{"sts:AssumeRole"}
	if service == podIdentityService {
		actions = append(actions, "sts:TagSession") // Pod Identity tags its sessions
	}
	assume, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Action": actions, "Principal": map[string]any{"Service": service},
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
// blocked, encrypted at rest, and an IAM user whose key may only use it;
// and beside it the backup bucket (newS3BackupBucket), which keeps backups
// for backupDays.
func newS3WarmBucket(ctx *pulumi.Context, name, deployment, region string, backupDays int, labels map[string]string, parent, keep pulumi.ResourceOption) (*WarmBucket, error) {
	tags := pulumi.ToStringMap(labels)
	bucket, err := s3.NewBucketV2(ctx, name+"-warm", &s3.BucketV2Args{Tags: tags, ForceDestroy: pulumi.Bool(false)}, parent, keep)
	if err != nil {
		return nil, err
	}
	if err := privateS3(ctx, name+"-warm", bucket, parent); err != nil {
		return nil, err
	}
	id, key, err := newS3User(ctx, name+"-warm", bucket, s3policy.Warm, tags, parent)
	if err != nil {
		return nil, err
	}
	backup, err := newS3BackupBucket(ctx, name, deployment, region, backupDays, tags, parent, keep)
	if err != nil {
		return nil, err
	}
	return &WarmBucket{
		Endpoint: pulumi.Sprintf("https://s3.%s.amazonaws.com/%s/%s/", region, bucket.Bucket, deployment), Region: pulumi.String(region),
		AccessKeyID: id, SecretAccessKey: key, Backup: backup,
	}, nil
}

// newS3User is an IAM user whose only rights are policy's on bucket, and
// its access key (secret).
func newS3User(ctx *pulumi.Context, name string, bucket *s3.BucketV2, policy func(arn string) (s3policy.Document, error), tags pulumi.StringMap, parent pulumi.ResourceOption) (id, key pulumi.StringOutput, err error) {
	user, err := iam.NewUser(ctx, name, &iam.UserArgs{Tags: tags}, parent)
	if err != nil {
		return id, key, err
	}
	doc := bucket.Arn.ApplyT(func(arn string) (string, error) {
		d, err := policy(arn)
		if err != nil {
			return "", err
		}
		return d.JSON()
	}).(pulumi.StringOutput)
	if _, err := iam.NewUserPolicy(ctx, name, &iam.UserPolicyArgs{User: user.Name, Policy: doc}, parent); err != nil {
		return id, key, err
	}
	k, err := iam.NewAccessKey(ctx, name, &iam.AccessKeyArgs{User: user.Name}, parent)
	if err != nil {
		return id, key, err
	}
	return secret(k.ID().ToStringOutput()), secret(k.Secret), nil
}

// newS3BackupBucket is the backup bucket on S3: private and encrypted as
// the warm one; versioned, so an overwrite or a delete keeps the version
// it replaces; Object Lock enabled (S3 allows that only when a bucket is
// created) without a default retention, which would make every PutObject
// carry a Content-MD5 or checksum header that not every backup writer
// sends (docs/security/exposure.md says how to add one); a lifecycle that expires
// backups after the backup days (a day's margin) and their old versions
// the backup days after that; and a writer whose key can put and read but
// not delete a version nor touch the bucket's settings
// (s3policy.BackupWriter). The warm tier's key has no right on it.
func newS3BackupBucket(ctx *pulumi.Context, name, deployment, region string, days int, tags pulumi.StringMap, parent, keep pulumi.ResourceOption) (*BackupBucket, error) {
	bucket, err := s3.NewBucketV2(ctx, name+"-backups", &s3.BucketV2Args{
		Tags: withTag(tags, backupBucketLabel, "backups"), ForceDestroy: pulumi.Bool(false), ObjectLockEnabled: pulumi.Bool(true),
	}, parent, keep)
	if err != nil {
		return nil, err
	}
	if err := privateS3(ctx, name+"-backups", bucket, parent); err != nil {
		return nil, err
	}
	versioning, err := s3.NewBucketVersioningV2(ctx, name+"-backups", &s3.BucketVersioningV2Args{
		Bucket: bucket.ID(), VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-backups", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
			Id: pulumi.String("expire-backups"), Status: pulumi.String("Enabled"),
			Filter:                         &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			Expiration:                     &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(days + 1)},
			NoncurrentVersionExpiration:    &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(days + 1)},
			AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{DaysAfterInitiation: pulumi.Int(7)},
		}},
	}, parent, pulumi.DependsOn([]pulumi.Resource{versioning})); err != nil {
		return nil, err
	}
	id, key, err := newS3User(ctx, name+"-backup-writer", bucket, s3policy.BackupWriter, tags, parent)
	if err != nil {
		return nil, err
	}
	return &BackupBucket{
		Endpoint: pulumi.Sprintf("https://s3.%s.amazonaws.com/%s/%s/", region, bucket.Bucket, deployment), Region: pulumi.String(region),
		AccessKeyID: id, SecretAccessKey: key,
	}, nil
}

// backupBucketLabel marks nano's backup buckets (tag or label
// nano-bucket=backups): the policy pack requires them versioned.
const backupBucketLabel = "nano-bucket"

// privateS3 blocks public access to a bucket and encrypts it at rest.
func privateS3(ctx *pulumi.Context, name string, bucket *s3.BucketV2, parent pulumi.ResourceOption) error {
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name, &s3.BucketPublicAccessBlockArgs{
		Bucket: bucket.ID(), BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, parent); err != nil {
		return err
	}
	_, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name, &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}},
	}, parent)
	return err
}

// withTag returns tags plus one more.
func withTag(tags pulumi.StringMap, k, v string) pulumi.StringMap {
	out := pulumi.StringMap{k: pulumi.String(v)}
	for key, val := range tags {
		out[key] = val
	}
	return out
}
