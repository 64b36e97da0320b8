package components

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/components/settings"
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
