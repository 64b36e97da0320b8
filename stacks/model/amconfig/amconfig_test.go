package amconfig

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/config"

	"github.com/nanosiem/nano/services/contract"
)

// nano's default loads in Alertmanager and routes to a receiver without
// integrations.
func TestUnconfiguredRoutesNowhere(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(Effective(""))
	if err != nil {
		t.Fatalf("the default does not load: %v", err)
	}
	if cfg.Route.Receiver != contract.UnconfiguredReceiver || len(cfg.Receivers) != 1 {
		t.Fatalf("default route %q, receivers %d", cfg.Route.Receiver, len(cfg.Receivers))
	}
	r := cfg.Receivers[0]
	if len(r.WebhookConfigs)+len(r.EmailConfigs)+len(r.SlackConfigs)+len(r.PagerdutyConfigs)+len(r.OpsGenieConfigs) > 0 {
		t.Errorf("the default receiver sends somewhere: %+v", r)
	}
	if Check("") != nil || Effective("  \n") != Unconfigured {
		t.Error("an empty key is not the default")
	}
}

// Every example of docs/operate/alerting.md loads.
func TestDocumentedExamplesLoad(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../docs/operate/alerting.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 5 {
		t.Fatalf("docs/operate/alerting.md has %d YAML examples, want webhook, Slack, PagerDuty, e-mail and per tenant", len(blocks))
	}
	kinds := map[string]bool{}
	for _, m := range blocks {
		if err := Check(m[1]); err != nil {
			t.Errorf("an example does not load: %v\n%s", err, m[1])
		}
		for _, k := range []string{"webhook_configs", "slack_configs", "pagerduty_configs", "email_configs"} {
			kinds[k] = kinds[k] || strings.Contains(m[1], k)
		}
	}
	if len(kinds) != 4 || !kinds["webhook_configs"] || !kinds["slack_configs"] || !kinds["pagerduty_configs"] || !kinds["email_configs"] {
		t.Errorf("the examples cover %v", kinds)
	}
}

// A configuration Alertmanager refuses fails with its message and the
// line at fault.
func TestCheckNamesTheLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ yml, want string }{
		{"route:\n  receiver: pager\nreceivers:\n  - name: ops\n", `line 2: undefined receiver "pager" used in route`},
		{"route:\n  receiver: ops\nreceivers:\n  - name: ops\n    webhook_configs:\n      - url: ftp://hooks.example.com/x\n", `line 6: invalid URL: unsupported scheme "ftp" for URL`},
		{"route:\n  receiver: ops\nreceivers:\n  - name: ops\n    slack_configs:\n      - api_url: https://hooks.slack.com/x\n        chanel: '#a'\n", "line 7: field chanel not found"},
		{"route:\n  receiver: ops\n receivers:\n", "line 2"},
		{"route:\n  receiver: " + contract.UnconfiguredReceiver + "\nreceivers:\n  - name: " + contract.UnconfiguredReceiver + "\n", "nano's own"},
		{strings.Repeat("#", MaxBytes+1), "more than"},
	} {
		err := Check(c.yml)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%.60q) = %v, want %q", c.yml, err, c.want)
		}
	}
}
