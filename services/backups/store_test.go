package backups

import (
	"strings"
	"testing"
)

// A store's settings are checked, each message naming what is wrong.
func TestStoreValidate(t *testing.T) {
	t.Parallel()
	good := Store{URL: "https://s3.example.com/bucket/acme/", AccessKeyID: "k", SecretAccessKey: "s"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mod  func(*Store)
		want string
	}{
		{func(s *Store) { s.URL = "" }, "required"},
		{func(s *Store) { s.URL = "s3://bucket/acme/" }, "not an http(s) URL"},
		{func(s *Store) { s.URL = "https://s3.example.com/bucket/acme" }, "must end in /"},
		{func(s *Store) { s.URL = "https://s3.example.com/" }, "names no bucket"},
		{func(s *Store) { s.SecretAccessKey = "" }, "secret access key"},
		{func(s *Store) { s.SecretAccessKey = "a'b" }, "no quotes"},
	} {
		s := good
		c.mod(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", s, err, c.want)
		}
	}
}
