package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Prometheus is a running Prometheus server (the binary tests/setup builds
// for the Compose rig, 3.5.0) scraping loopback targets every second and
// evaluating alert rules every second.
type Prometheus struct {
	server
	URL string
}

// PrometheusBinary is the Compose rig's Prometheus: NANO_PROMETHEUS, else
// bin/prometheus under NANO_COMPOSE_RIG.
func PrometheusBinary() (string, error) {
	if p := os.Getenv("NANO_PROMETHEUS"); p != "" {
		return p, nil
	}
	dir := os.Getenv("NANO_COMPOSE_RIG")
	if dir == "" {
		return "", fmt.Errorf("NANO_COMPOSE_RIG is not set: run the tests through tests/run (tests/setup builds Prometheus)")
	}
	p := filepath.Join(dir, "bin", "prometheus")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no Prometheus at %s (run tests/setup): %w", p, err)
	}
	return p, nil
}

// StartPrometheus starts Prometheus with rules (a rules file's content, as
// the deployments write it) scraping targets (host:port, their /metrics)
// as job "nano".
func StartPrometheus(rules map[string]any, targets ...string) (*Prometheus, error) {
	bin, err := PrometheusBinary()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nano-prometheus-")
	if err != nil {
		return nil, err
	}
	p := &Prometheus{server: server{name: "prometheus", dir: dir}, URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0])}
	rulesYAML, err := yaml.Marshal(rules)
	if err != nil {
		p.stop()
		return nil, err
	}
	config, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"},
		"rule_files":     []string{filepath.Join(dir, "alerts.yml")},
		"scrape_configs": []any{map[string]any{"job_name": "nano", "static_configs": []any{map[string]any{"targets": targets}}}},
	})
	if err != nil {
		p.stop()
		return nil, err
	}
	for name, b := range map[string][]byte{"alerts.yml": rulesYAML, "prometheus.yml": config} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			p.stop()
			return nil, err
		}
	}
	p.cmd = exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(ports[0]))
	p.cmd.Dir = dir
	if err := p.start(); err != nil {
		p.stop()
		return nil, err
	}
	if err := p.waitReady(func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	}); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// Stop stops Prometheus and deletes its data.
func (p *Prometheus) Stop() { p.stop() }

// Alert is one of Prometheus's active alerts.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// Alerts are the active alerts (pending and firing).
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var out struct {
		Data struct {
			Alerts []Alert `json:"alerts"`
		} `json:"data"`
	}
	if err := p.get(ctx, "/api/v1/alerts", &out); err != nil {
		return nil, err
	}
	return out.Data.Alerts, nil
}

// Query evaluates an instant query and returns its samples' values by
// their labels rendered as text.
func (p *Prometheus) Query(ctx context.Context, expr string) (map[string]float64, error) {
	var out struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := p.get(ctx, "/api/v1/query?query="+url.QueryEscape(expr), &out); err != nil {
		return nil, err
	}
	values := map[string]float64{}
	for _, r := range out.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v", expr, r.Value[1])
		}
		values[fmt.Sprint(r.Metric)] = v
	}
	return values, nil
}

// WaitFiring waits until alert fires, up to timeout, and returns it.
func (p *Prometheus) WaitFiring(ctx context.Context, alert string, timeout time.Duration) (Alert, error) {
	deadline := time.Now().Add(timeout)
	var seen []string
	for {
		alerts, err := p.Alerts(ctx)
		if err != nil {
			return Alert{}, err
		}
		seen = seen[:0]
		for _, a := range alerts {
			if a.Labels["alertname"] == alert && a.State == "firing" {
				return a, nil
			}
			seen = append(seen, a.Labels["alertname"]+":"+a.State)
		}
		if time.Now().After(deadline) {
			return Alert{}, fmt.Errorf("%s not firing after %s (active: %s)", alert, timeout, strings.Join(seen, ", "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (p *Prometheus) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot ask Prometheus %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("Prometheus %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
