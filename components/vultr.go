package components

import (
	"encoding/base64"
	"fmt"

	"github.com/dirien/pulumi-vultr/sdk/v2/go/vultr"
	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Vultr cluster settings. VKE installs the Vultr CSI driver; its block
// storage class is the cluster's volumes.
const (
	vultrStorageClass = "vultr-block-storage"
	vultrK8sVersion   = "v1.33.0+1"
)

// newVultr builds a Vultr Kubernetes Engine cluster with a highly available
// control plane and VKE's managed firewall (nodes admit nothing but the
// cluster's own traffic and load balancers). The community Pulumi Vultr SDK
// (github.com/dirien/pulumi-vultr) has no API allow-list: the VKE API is
// public and authenticated by the client certificate in the kubeconfig.
func newVultr(ctx *pulumi.Context, spec clusterSpec, parent pulumi.ResourceOption) (*builtCluster, error) {
	if len(spec.Pools) != 1 {
		return nil, fmt.Errorf("Vultr clusters are built with one node pool, got %d", len(spec.Pools))
	}
	p := spec.Pools[0]
	cluster, err := vultr.NewKubernetes(ctx, spec.Name+"-vke", &vultr.KubernetesArgs{
		Label: pulumi.String(spec.Deployment), Region: pulumi.String(spec.Region), Version: pulumi.String(vultrK8sVersion),
		HaControlplanes: pulumi.Bool(true), EnableFirewall: pulumi.Bool(true),
		NodePools: &vultr.KubernetesNodePoolsTypeArgs{
			Label: pulumi.String(spec.Deployment + "-" + string(p.Role)), Plan: pulumi.String(p.MachineType),
			NodeQuantity: pulumi.Int(p.Nodes), AutoScaler: pulumi.Bool(false), Tag: pulumi.String(spec.Deployment),
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	kc := secret(cluster.KubeConfig.ApplyT(func(b64 string) (string, error) {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return "", fmt.Errorf("cannot decode the VKE kubeconfig: %w", err)
		}
		return string(raw), nil
	}).(pulumi.StringOutput))
	provider, err := kubernetes.NewProvider(ctx, spec.Name+"-vke", &kubernetes.ProviderArgs{Kubeconfig: kc}, parent)
	if err != nil {
		return nil, err
	}
	return &builtCluster{Kubeconfig: kc, Provider: provider, StorageClass: vultrStorageClass, Ready: []pulumi.Resource{cluster}}, nil
}

// newVultrWarmBucket creates a Vultr Object Storage subscription in the
// region's object storage cluster and the warm tier's bucket in it (the
// provider manages subscriptions, not buckets: the bucket is created with
// one signed S3 request, idempotently).
func newVultrWarmBucket(ctx *pulumi.Context, name, deployment, region string, parent, keep pulumi.ResourceOption) (*WarmBucket, error) {
	clusters := vultr.GetObjectStorageClusterOutput(ctx, vultr.GetObjectStorageClusterOutputArgs{
		Filters: vultr.GetObjectStorageClusterFilterArray{vultr.GetObjectStorageClusterFilterArgs{
			Name: pulumi.String("region"), Values: pulumi.ToStringArray([]string{region}),
		}},
	})
	store, err := vultr.NewObjectStorage(ctx, name+"-warm", &vultr.ObjectStorageArgs{
		ClusterId: clusters.Id(),
		Label:     pulumi.String(deployment + "-warm"),
	}, parent, keep)
	if err != nil {
		return nil, err
	}
	bucket := deployment + "-warm"
	create, err := local.NewCommand(ctx, name+"-warm-bucket", &local.CommandArgs{
		Create: pulumi.String(createBucketScript),
		Environment: pulumi.StringMap{
			"NANO_S3_HOST": store.S3Hostname, "NANO_BUCKET": pulumi.String(bucket),
			"NANO_S3_KEY": store.S3AccessKey, "NANO_S3_SECRET": store.S3SecretKey,
		},
		Triggers: pulumi.Array{store.ID()},
	}, parent)
	if err != nil {
		return nil, err
	}
	endpoint := pulumi.All(store.S3Hostname, create.Stdout).ApplyT(func(v []any) string {
		return fmt.Sprintf("https://%s/%s/%s/", v[0], bucket, deployment)
	}).(pulumi.StringOutput)
	return &WarmBucket{
		Endpoint: endpoint, Region: pulumi.String(""),
		AccessKeyID: secret(store.S3AccessKey), SecretAccessKey: secret(store.S3SecretKey),
	}, nil
}

// createBucketScript creates a bucket with one SigV4-signed S3 request;
// an existing bucket of the same owner is success.
const createBucketScript = `set -eu
out=$(mktemp)
code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 60 -X PUT \
  --aws-sigv4 "aws:amz:us-east-1:s3" --user "$NANO_S3_KEY:$NANO_S3_SECRET" \
  "https://$NANO_S3_HOST/$NANO_BUCKET")
case "$code" in
  200) echo created ;;
  409) if grep -q BucketAlreadyOwnedByYou "$out"; then echo exists; else cat "$out" >&2; exit 1; fi ;;
  *) echo "nano: cannot create bucket $NANO_BUCKET on $NANO_S3_HOST: HTTP $code" >&2; cat "$out" >&2; exit 1 ;;
esac`
