package components

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/nanosiem/nano/stacks/program/mockmonitor"
)

// Outputs name only what answers: a Compose host serves api and search on
// its IP without a domain, a Growth cluster only behind a domain's Ingress.
func TestEndpointsNameOnlyWhatAnswers(t *testing.T) {
	t.Parallel()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		ip := pulumi.String("192.0.2.10").ToStringOutput()
		none := pulumi.String("").ToStringOutput()
		for name, c := range map[string]struct {
			e                       Endpoints
			api, search, web, https string
		}{
			"compose, no domain": {newEndpoints(ip, "", "https", true, none), "https://192.0.2.10/api", "https://192.0.2.10/search", "https://192.0.2.10/", "192.0.2.10"},
			"growth, no domain":  {newEndpoints(ip, "", "http", false, none), "", "", "", ""},
			"growth, domain":     {newEndpoints(ip, "logs.example.com", "http", false, none), "https://logs.example.com/api", "https://logs.example.com/search", "https://logs.example.com/", "192.0.2.10"},
			"cloud, no domain":   {newClusterEndpoints(ip, ip, ""), "", "", "", ""},
			"cloud, domain":      {newClusterEndpoints(ip, ip, "logs.example.com"), "https://logs.example.com/api", "https://logs.example.com/search", "https://logs.example.com/", "192.0.2.10"},
		} {
			for what, o := range map[string]struct {
				got  pulumi.StringOutput
				want string
			}{"apiUrl": {c.e.APIURL, c.api}, "searchUrl": {c.e.SearchURL, c.search}, "webUrl": {c.e.WebURL, c.web}, "httpsAddress": {c.e.HTTPSAddress, c.https}} {
				r, err := internals.UnsafeAwaitOutput(context.Background(), o.got)
				if err != nil {
					t.Fatal(err)
				}
				if r.Value != o.want {
					t.Errorf("%s: %s = %q, want %q", name, what, r.Value, o.want)
				}
			}
		}
		return nil
	}, pulumi.WithMocks("nano", "test", &mockmonitor.Recorder{}))
	if err != nil {
		t.Fatal(err)
	}
}
