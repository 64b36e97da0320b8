package backups

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Store is the object storage backups go to: URL is the path-style URL of a
// prefix in a bucket (https://host/bucket/prefix/, ending in "/"); Region
// may be "" (us-east-1, which S3-compatible stores accept).
type Store struct {
	URL, Region                  string
	AccessKeyID, SecretAccessKey string
}

// Validate says what is wrong with s, naming the field.
func (s Store) Validate() error {
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		return errors.New("url: required")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("url %q: not an http(s) URL", s.URL)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("url %q: no query or fragment", s.URL)
	case !strings.HasSuffix(u.Path, "/"):
		return fmt.Errorf("url %q: must end in / (a prefix in a bucket)", s.URL)
	case strings.Trim(u.Path, "/") == "":
		return fmt.Errorf("url %q: names no bucket (https://host/bucket/prefix/)", s.URL)
	case s.AccessKeyID == "" || s.SecretAccessKey == "":
		return errors.New("access key id and secret access key: required")
	case strings.ContainsAny(s.AccessKeyID+s.SecretAccessKey+s.URL, "'\\"):
		return errors.New("url and keys: no quotes or backslashes")
	}
	return nil
}

// Bucket splits the URL into its bucket and the prefix in it ("" or
// ending in "/").
func (s Store) Bucket() (bucket, prefix string) {
	u, _ := url.Parse(s.URL)
	bucket, prefix, _ = strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	return bucket, prefix
}

// Client is an S3 client of the store.
func (s Store) Client() (*minio.Client, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", s.URL, err)
	}
	region := s.Region
	if region == "" {
		region = "us-east-1"
	}
	return minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKeyID, s.SecretAccessKey, ""), Secure: u.Scheme == "https", Region: region})
}

// DeleteDenied reports whether err is the store refusing a delete: the
// backup credentials nano creates cannot delete (the backup bucket's
// lifecycle rules expire old backups instead), so retention's deletes are
// then left to the bucket, not an error of the backup that preceded them.
func DeleteDenied(err error) bool {
	var r minio.ErrorResponse
	return errors.As(err, &r) && r.Code == "AccessDenied"
}

// RemoveAll deletes every object under prefix (a key prefix in the
// store's bucket), one at a time: GCS's S3 API has no multi-object delete.
func (s Store) RemoveAll(ctx context.Context, c *minio.Client, prefix string) error {
	bucket, _ := s.Bucket()
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		if err := c.RemoveObject(ctx, bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("%s: %w", obj.Key, err)
		}
	}
	return nil
}
