package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/web/ui"
)

func TestConfigNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(func(k string) string { return map[string]string{contract.ListenAddr: "nowhere"}[k] })
	if err == nil || !strings.Contains(err.Error(), contract.ListenAddr+":") {
		t.Errorf("bad listen address not named: %v", err)
	}
	c, err := loadConfig(func(string) string { return "" })
	if err != nil || c.Listen != ":3001" || c.OpsListen != ":9599" {
		t.Errorf("defaults: %+v %v", c, err)
	}
	_, err = loadConfig(func(k string) string { return map[string]string{contract.MetricsAddr: ":3001"}[k] })
	if err == nil || !strings.Contains(err.Error(), contract.MetricsAddr+":") {
		t.Errorf("the operational endpoints on the public port: %v", err)
	}
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The service as main runs it, with the UI this checkout built: every
// page path answers index.html (revalidated), its hashed assets are cached
// for good, unknown assets and misrouted api/search paths are 404s that
// say why, and the operational endpoints answer on their own port only
// (the public one is every path the proxies route to the UI).
func TestServiceServesTheBuiltUI(t *testing.T) {
	// The fast loop on a fresh clone has no built UI to embed; tests/run
	// builds it first (setup), and there a missing UI fails below.
	if _, err := ui.Files(); errors.Is(err, ui.ErrNotBuilt) && testing.Short() {
		t.Skipf("-short: %v", err)
	}
	// A version of its own (main sets the build's; empty would be in every
	// answer the public port's check reads).
	defer func(v string) { version = v }(version)
	version = "web-test-build-7"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{Listen: ln.Addr().String(), OpsListen: opsLn.Addr().String()}, slog.New(slog.NewTextHandler(io.Discard, nil)), ln, opsLn)
	}()
	base, ops := "http://"+ln.Addr().String(), "http://"+opsLn.Addr().String()
	var resp *http.Response
	var body string
	// Generous: a loaded 2-core machine may take seconds to schedule it.
	for deadline := time.Now().Add(60 * time.Second); ; {
		c := http.Client{Timeout: time.Second}
		if r, err := c.Get(ops + contract.HealthPath); err == nil {
			r.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("web stopped before answering: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("web did not answer within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range []string{"/", "/index.html", "/alerts"} {
		resp, body = get(t, base+p)
		if resp.StatusCode != 200 || !strings.Contains(body, `<div id="app">`) || resp.Header.Get("Cache-Control") != "no-cache" ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Fatalf("GET %s: %d %q %v", p, resp.StatusCode, body, resp.Header)
		}
	}
	if r, _ := get(t, base+"/", "If-None-Match", resp.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with the page's ETag: %d, want 304", r.StatusCode)
	}
	i := strings.Index(body, "/assets/")
	if i < 0 {
		t.Fatalf("the page names no asset: %s", body)
	}
	asset := body[i : i+strings.IndexAny(body[i:], `"`)]
	resp, js := get(t, base+asset)
	if resp.StatusCode != 200 || len(js) < 1000 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("GET %s: %d, %d bytes, %v", asset, resp.StatusCode, len(js), resp.Header)
	}
	for _, p := range []string{"/assets/gone-1234.js", "/assets/"} {
		if r, _ := get(t, base+p); r.StatusCode != 404 && r.StatusCode != 301 {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}
	if r, b := get(t, base+"/api/v1/rules"); r.StatusCode != 404 || !strings.Contains(b, "route /api/ to the api service") {
		t.Errorf("misrouted api call: %d %s", r.StatusCode, b)
	}
	// On the public port the operational paths are 404s, not the page.
	for _, p := range []string{"/metrics", "/version", contract.HealthPath, contract.ReadyPath} {
		if r, b := get(t, base+p); r.StatusCode != 404 || strings.Contains(b, "nano_web") || strings.Contains(b, version) {
			t.Errorf("public GET %s: %d %q", p, r.StatusCode, b)
		}
	}
	if r, b := get(t, ops+"/version"); r.StatusCode != 200 || strings.TrimSpace(b) != version {
		t.Errorf("/version: %d %q", r.StatusCode, b)
	}
	if r, b := get(t, ops+contract.ReadyPath); r.StatusCode != 200 {
		t.Errorf("%s: %d %q", contract.ReadyPath, r.StatusCode, b)
	}
	if r, b := get(t, ops+"/metrics"); r.StatusCode != 200 || !strings.Contains(b, `nano_web_requests_total{code="404",kind="misrouted"} 1`) ||
		!strings.Contains(b, `nano_web_requests_total{code="404",kind="ops"} 4`) {
		t.Errorf("/metrics: %d %s", r.StatusCode, b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// A file set without index.html is refused by name.
func TestHandlerNeedsAnIndex(t *testing.T) {
	t.Parallel()
	if _, err := newHandler(fstest.MapFS{"assets/x.js": {Data: []byte("x")}}, "t"); err == nil {
		t.Error("a UI without index.html was accepted")
	}
}
