package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/httpstatus"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/servicemain"
)

// contentSecurityPolicy lets the page load only its own files and call
// only its own origin (where the api and search services are routed).
// Styles may be inline: the chart library sizes its elements that way.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// handler serves the built UI: index.html for every page path (the UI
// routes by fragment, and any other path is a bookmark to it) and the
// content-hashed files under assets/ for a year. Paths under the api's and
// search's prefixes are a routing mistake of the proxy in front; they get
// a 404 that says so. The operational endpoints are served by ops, on a
// port of their own: the proxies route every other path here, so on this
// port they would be public.
type handler struct {
	files    fs.FS
	index    []byte
	etag     string
	modTime  time.Time
	version  string
	registry *prometheus.Registry
	requests *prometheus.CounterVec
}

func newHandler(files fs.FS, version string) (*handler, error) {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(index)
	h := &handler{files: files, index: index, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, version: version, registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_web_requests_total", Help: "HTTP requests by kind (page, asset, misrouted) and status code."}, []string{"kind", "code"})}
	h.registry.MustRegister(h.requests)
	return h, nil
}

func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	for _, p := range opsPaths {
		mux.HandleFunc(p, h.count("ops", http.NotFound))
	}
	mux.HandleFunc("GET /assets/", h.count("asset", h.asset))
	for _, prefix := range []string{contract.APIPrefix, contract.SearchPrefix} {
		mux.HandleFunc(prefix+"/", h.count("misrouted", h.misrouted))
	}
	mux.HandleFunc("/", h.count("page", h.page))
	return mux
}

// opsPaths are the operational endpoints' paths: a 404 on the public port,
// where a page would otherwise answer them.
var opsPaths = []string{"/metrics", contract.HealthPath, contract.ReadyPath, "/version"}

// ops serves the operational endpoints (the deployment's probes and
// Prometheus reach this port; no proxy routes to it).
func (h *handler) ops() http.Handler {
	mux := http.NewServeMux()
	servicemain.Ops(mux, h.registry, func(context.Context) error { return nil }, h.version)
	return mux
}

func (h *handler) count(kind string, f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := httpstatus.Wrap(w)
		defer func() { h.requests.WithLabelValues(kind, strconv.Itoa(sw.Code())).Inc() }()
		hd := sw.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		f(sw, r)
	}
}

// page answers index.html; the browser revalidates it on every load, so a
// new version of the UI is seen at once.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the UI's pages are read with GET", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", h.etag)
	http.ServeContent(w, r, "index.html", h.modTime, bytes.NewReader(h.index))
}

// asset answers a built file: its name carries its content's hash, so it
// never changes and may be cached for good. A name that is not one is a
// 404, not the page (a stale page asking for an old build's file should
// fail visibly).
func (h *handler) asset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if !strings.HasPrefix(name, "assets/") || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(h.files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, name, h.modTime, bytes.NewReader(b))
}

// misrouted answers a request for the api or search service that reached
// the web service instead.
func (h *handler) misrouted(w http.ResponseWriter, r *http.Request) {
	service := strings.SplitN(r.URL.Path, "/", 3)[1]
	jsonhttp.Fail(w, http.StatusNotFound, jsonhttp.Problem{Message: "this is nano's web service: the proxy in front must route /" + service +
		"/ to the " + service + " service (" + r.URL.Path + " reached the UI)"})
}
