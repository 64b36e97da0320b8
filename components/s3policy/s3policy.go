// Package s3policy builds the IAM policies of the S3 credentials nano
// creates: the warm tier's (ClickHouse moves parts to the bucket and
// deletes them as they merge or expire) and the backup writer's, which
// writes backups but can neither delete nor rewrite what it wrote.
//
// The backup writer's bucket keeps every version (versioning): a PutObject
// over an existing key adds a version and leaves the old one, and a delete
// only adds a delete marker. The policy allows reading,
// listing and writing, and denies every action that deletes a version,
// changes the bucket's protection or bypasses it; only the bucket's
// lifecycle rules expire old backups. The one delete it allows is of
// ClickHouse's .lock file, which a BACKUP to S3 creates while it writes and
// removes when it ends (on a versioned bucket that delete only adds a
// delete marker).
package s3policy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Statement is one statement of an IAM policy document.
type Statement struct {
	Sid      string   `json:"Sid,omitempty"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// JSON renders the document.
func (d Document) JSON() (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("cannot encode the policy: %w", err)
	}
	return string(b), nil
}

const version = "2012-10-17"

// LockFile is the name of ClickHouse's backup lock file.
const LockFile = ".lock"

// Destructive are the actions a backup writer is denied on its bucket:
// deleting a version, and changing or bypassing what protects them.
var Destructive = []string{
	"s3:DeleteObjectVersion", "s3:DeleteBucket", "s3:DeleteBucketPolicy",
	"s3:PutBucketPolicy", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration",
	"s3:PutBucketObjectLockConfiguration", "s3:PutObjectRetention", "s3:PutObjectLegalHold",
	"s3:BypassGovernanceRetention", "s3:PutBucketAcl", "s3:PutObjectAcl",
}

func checkARN(arn string) error {
	if !strings.HasPrefix(arn, "arn:") || strings.ContainsAny(arn, "*? /") {
		return fmt.Errorf("%q is not a bucket ARN", arn)
	}
	return nil
}

// Warm is the warm tier's: ClickHouse reads, writes and deletes objects of
// the warm bucket (and nothing else).
func Warm(bucketARN string) (Document, error) {
	if err := checkARN(bucketARN); err != nil {
		return Document{}, err
	}
	return Document{Version: version, Statement: []Statement{
		{Sid: "List", Effect: "Allow", Action: []string{"s3:ListBucket", "s3:GetBucketLocation"}, Resource: []string{bucketARN}},
		{Sid: "Objects", Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}, Resource: []string{bucketARN + "/*"}},
	}}, nil
}

// BackupWriter is the backup writer's on the backup bucket: list, read and
// write; delete nothing but ClickHouse's lock files; every destructive
// action denied explicitly, so no other grant can give it back.
func BackupWriter(bucketARN string) (Document, error) {
	if err := checkARN(bucketARN); err != nil {
		return Document{}, err
	}
	return Document{Version: version, Statement: []Statement{
		{Sid: "List", Effect: "Allow", Action: []string{"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"}, Resource: []string{bucketARN}},
		{Sid: "ReadWrite", Effect: "Allow", Action: []string{"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, Resource: []string{bucketARN + "/*"}},
		{Sid: "ClickHouseBackupLock", Effect: "Allow", Action: []string{"s3:DeleteObject"}, Resource: []string{bucketARN + "/*/" + LockFile}},
		{Sid: "NeverDestroy", Effect: "Deny", Action: Destructive, Resource: []string{bucketARN, bucketARN + "/*"}},
	}}, nil
}
