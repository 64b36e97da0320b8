package components

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/kubeobjects"
	"github.com/nanosiem/nano/stacks/model/settings"
)

// WarmBucket is where ClickHouse moves aged parts (tiers with warm S3):
// Endpoint is the https URL of the deployment's prefix in the bucket, ending
// in "/"; Region may be "" (detected).
type WarmBucket struct {
	Endpoint, Region             pulumi.StringInput
	AccessKeyID, SecretAccessKey pulumi.StringInput
}

// configuredWarmBucket is the bucket of nano:warmBucketUrl, with the
// deployment's prefix in it.
func configuredWarmBucket(deployment string, w *settings.WarmBucket) *WarmBucket {
	return &WarmBucket{
		Endpoint: pulumi.String(w.URL + deployment + "/"), Region: pulumi.String(w.Region),
		AccessKeyID: secret(pulumi.String(w.AccessKeyID).ToStringOutput()), SecretAccessKey: secret(pulumi.String(w.SecretAccessKey).ToStringOutput()),
	}
}

// backupStore is the prefix of the warm bucket where CloudNativePG keeps
// PostgreSQL's backups: "postgres/" under the deployment's prefix, through
// the same S3 API.
func (w *WarmBucket) backupStore() *kubeobjects.Backup {
	target := w.Endpoint.ToStringOutput().ApplyT(func(endpoint string) ([]string, error) {
		dest, api, err := backupTarget(endpoint)
		return []string{dest, api}, err
	}).(pulumi.StringArrayOutput)
	return &kubeobjects.Backup{DestinationPath: target.Index(pulumi.Int(0)), EndpointURL: target.Index(pulumi.Int(1))}
}

// backupTarget splits a path-style bucket URL (https://host/bucket/prefix/,
// as every warm endpoint is) into Barman Cloud's destination path
// (s3://bucket/prefix/postgres/) and the S3 API's URL (https://host).
func backupTarget(endpoint string) (dest, api string, err error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", "", fmt.Errorf("warm bucket endpoint %q is not an https URL", endpoint)
	}
	bucket, prefix, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if bucket == "" {
		return "", "", fmt.Errorf("warm bucket endpoint %q names no bucket", endpoint)
	}
	if prefix != "" {
		prefix += "/"
	}
	return "s3://" + bucket + "/" + prefix + "postgres/", "https://" + u.Host, nil
}

// backupRegion is the region backups sign their requests for: the bucket's,
// or us-east-1 where it has none (S3-compatible stores accept it).
func backupRegion(region string) string {
	if region == "" {
		return "us-east-1"
	}
	return region
}
