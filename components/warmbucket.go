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
	// Backup is the separate backup bucket nano creates beside the warm
	// one where the cloud can protect backups from their writers (S3,
	// GCS); nil: backups go under the warm bucket with its keys.
	Backup *BackupBucket
}

// BackupBucket is where ClickHouse's and PostgreSQL's backups go, written
// with keys that cannot delete them (AWS: s3policy.BackupWriter on a
// versioned, Object-Locked bucket; GCS: versioning and soft delete), and
// which expires old backups itself (lifecycle rules), so nothing that runs
// in the cluster prunes them. Endpoint is the https URL of the deployment's
// prefix in it, ending in "/".
type BackupBucket struct {
	Endpoint, Region             pulumi.StringInput
	AccessKeyID, SecretAccessKey pulumi.StringInput
}

// clickHouseBackupDays is how long the api keeps ClickHouse's backups at
// its defaults (NANO_BACKUP_KEEP 4 chains of a week): a backup bucket keeps
// every backup at least that long, and PostgreSQL's the tier's backup days
// or that, whichever is longer, since its writers cannot delete.
const clickHouseBackupDays = 28

// backupBucketDays is how long a backup bucket keeps what is written to it.
func backupBucketDays(tierDays int) int { return max(tierDays, clickHouseBackupDays) }

// backupEndpoint, backupKeys: the bucket and keys backups are written to
// and with: the separate backup bucket's, else the warm bucket's.
func (w *WarmBucket) backupEndpoint() pulumi.StringInput {
	if w.Backup != nil {
		return w.Backup.Endpoint
	}
	return w.Endpoint
}

func (w *WarmBucket) backupKeys() (id, secret pulumi.StringInput) {
	if w.Backup != nil {
		return w.Backup.AccessKeyID, w.Backup.SecretAccessKey
	}
	return w.AccessKeyID, w.SecretAccessKey
}

func (w *WarmBucket) backupRegion() pulumi.StringInput {
	if w.Backup != nil {
		return w.Backup.Region
	}
	return w.Region
}

// configuredWarmBucket is the bucket of nano:warmBucketUrl, with the
// deployment's prefix in it.
func configuredWarmBucket(deployment string, w *settings.WarmBucket) *WarmBucket {
	return &WarmBucket{
		Endpoint: pulumi.String(w.URL + deployment + "/"), Region: pulumi.String(w.Region),
		AccessKeyID: secret(pulumi.String(w.AccessKeyID).ToStringOutput()), SecretAccessKey: secret(pulumi.String(w.SecretAccessKey).ToStringOutput()),
	}
}

// backupStore is the prefix where CloudNativePG keeps PostgreSQL's
// backups: "postgres/" under the deployment's prefix of the backup bucket
// (or of the warm bucket), through the same S3 API.
func (w *WarmBucket) backupStore() *kubeobjects.Backup {
	target := w.backupEndpoint().ToStringOutput().ApplyT(func(endpoint string) ([]string, error) {
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
