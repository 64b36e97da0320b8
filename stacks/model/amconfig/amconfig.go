// Package amconfig is the Alertmanager configuration a deployment runs:
// the stack's own (nano:alertmanagerConfig, Alertmanager's YAML), checked
// with Alertmanager's own loader, or while it is unset nano's default,
// which routes every alert to a receiver without integrations (nowhere).
package amconfig

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/alertmanager/config"
	"gopkg.in/yaml.v3"

	"github.com/nanosiem/nano/services/contract"
)

// MaxBytes bounds the configuration (a Pulumi config value, a Secret's
// key and a file on the host).
const MaxBytes = 256 << 10

// Unconfigured is what a deployment runs while nano:alertmanagerConfig is
// unset: one route to contract.UnconfiguredReceiver, which sends nothing.
// Alertmanager still groups alerts, keeps silences and answers the api.
const Unconfigured = `# nano: nano:alertmanagerConfig is unset, so alerts are routed nowhere.
# Set it to Alertmanager's configuration (docs/operate/alerting.md) to send them.
route:
  receiver: ` + contract.UnconfiguredReceiver + `
  group_by: [alertname, tenant]
receivers:
  - name: ` + contract.UnconfiguredReceiver + `
`

// Effective is the configuration a deployment runs: yml, or Unconfigured
// when it is empty.
func Effective(yml string) string {
	if strings.TrimSpace(yml) == "" {
		return Unconfigured
	}
	return yml
}

// Check loads yml as Alertmanager does (config.Load: unknown fields,
// undefined receivers, bad URLs, bad durations...) and reports its
// problem with the line it is on, where one can be told.
func Check(yml string) error {
	if len(yml) > MaxBytes {
		return fmt.Errorf("%d bytes is more than %d", len(yml), MaxBytes)
	}
	if strings.TrimSpace(yml) == "" {
		return nil
	}
	cfg, err := config.Load(yml)
	if err != nil {
		return located(yml, err)
	}
	for _, r := range cfg.Receivers {
		if r.Name == contract.UnconfiguredReceiver {
			return fmt.Errorf("receiver %q is nano's own (the default that sends nothing); name yours otherwise", r.Name)
		}
	}
	return nil
}

// reLine is a YAML decoder's position ("line 7: ...", "yaml: line 7: ...").
var reLine = regexp.MustCompile(`\bline (\d+)\b`)

// reQuoted are the values an Alertmanager message quotes.
var reQuoted = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

// located is err with the line of yml it is about: the decoder's own when
// it says one, else the first line holding a value the message quotes
// (a receiver's name, a URL's scheme, a field).
func located(yml string, err error) error {
	msg := err.Error()
	if reLine.MatchString(msg) {
		return errors.New(msg)
	}
	var root yaml.Node
	if yaml.Unmarshal([]byte(yml), &root) != nil {
		return errors.New(msg)
	}
	for _, m := range reQuoted.FindAllStringSubmatch(msg, -1) {
		v, uerr := strconv.Unquote(`"` + m[1] + `"`)
		if uerr != nil || v == "" {
			continue
		}
		if line := find(&root, v); line > 0 {
			return fmt.Errorf("line %d: %s", line, msg)
		}
	}
	return errors.New(msg)
}

// find is the line of the first scalar that is v, or failing that starts
// with v followed by ':' (a URL of the scheme v), or 0.
func find(n *yaml.Node, v string) int {
	exact, prefix := 0, 0
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			switch {
			case exact == 0 && n.Value == v:
				exact = n.Line
			case prefix == 0 && strings.HasPrefix(n.Value, v+":"):
				prefix = n.Line
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	if exact > 0 {
		return exact
	}
	return prefix
}
