package components

import "testing"

// Every warm endpoint is a path-style bucket URL; backups go to its
// postgres/ prefix through the same host.
func TestBackupTarget(t *testing.T) {
	t.Parallel()
	for endpoint, want := range map[string][2]string{
		"https://s3.eu-central-1.amazonaws.com/nano-warm-abc/team-aws/": {"s3://nano-warm-abc/team-aws/postgres/", "https://s3.eu-central-1.amazonaws.com"},
		"https://storage.googleapis.com/bkt/pro-gcp/":                   {"s3://bkt/pro-gcp/postgres/", "https://storage.googleapis.com"},
		"https://objectstore.lon1.civo.com/store":                       {"s3://store/postgres/", "https://objectstore.lon1.civo.com"},
	} {
		d, e, err := backupTarget(endpoint)
		if err != nil || d != want[0] || e != want[1] {
			t.Errorf("backupTarget(%q) = %q, %q, %v; want %q", endpoint, d, e, err, want)
		}
	}
	for _, bad := range []string{"http://s3.example.com/b/", "https://s3.example.com/", "::"} {
		if _, _, err := backupTarget(bad); err == nil {
			t.Errorf("backupTarget(%q) accepted", bad)
		}
	}
	if backupRegion("") != "us-east-1" || backupRegion("eu-west-3") != "eu-west-3" {
		t.Error("backup region")
	}
}
