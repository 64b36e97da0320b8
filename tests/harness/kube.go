package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"
)

// EtcdBinary is Debian's etcd (package etcd-server), the rig's store.
const EtcdBinary = "/usr/bin/etcd"

// KubeVersion is the control plane's release (go.mod's k8s.io/kubernetes,
// which tests/setup builds); the rig's nodes report it as their kubelet's.
const KubeVersion = "v1.34.2"

// Kube is a real Kubernetes control plane on loopback: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler (built by tests/setup into
// NANO_KUBE_BIN), with generated certificates. It has no kubelet: the
// harness registers Node objects and plays the node agents' part of the
// API (see kubenodes.go), so the real scheduler places every pod and the
// real controllers roll Deployments, while no container runs.
type Kube struct {
	// Server is the API server's https URL; Kubeconfig an admin kubeconfig
	// for it (YAML, certificates embedded).
	Server, Kubeconfig string
	client             *http.Client
	dir                string
	servers            []*server
	agent              *nodeAgent
	stopped            sync.Once
}

// Rig classes: the harness's stand-in ingress controller reports an
// address for Ingresses of RigIngressClass, named as the Traefik of the
// clusters nano builds is (k3s', Civo's, the chart's), so the platform
// applies its Traefik objects (the HTTPS redirect and HSTS middlewares,
// whose CRD the rig installs) as it does there; its provisioner makes
// local volumes for claims of RigStorageClass (the default class).
const (
	RigIngressClass = "traefik"
	RigStorageClass = "nano-rig-local"
	// RigLoadBalancerIP is the address the stand-in load balancer reports.
	RigLoadBalancerIP = "127.0.0.1"
)

// apiserverTimeout bounds the API server's start (it bootstraps RBAC and
// its storage first; slow on a loaded 2-core machine).
const apiserverTimeout = 3 * time.Minute

// StartKube starts the control plane with crds (YAML files of
// CustomResourceDefinitions) installed and established.
func StartKube(crds ...string) (*Kube, error) {
	bin := os.Getenv("NANO_KUBE_BIN")
	if bin == "" {
		return nil, errors.New("NANO_KUBE_BIN is not set: run the tests with tests/run, which builds the Kubernetes control plane")
	}
	for _, b := range []string{EtcdBinary, filepath.Join(bin, "kube-apiserver"), filepath.Join(bin, "kube-controller-manager"), filepath.Join(bin, "kube-scheduler")} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("%s not found (run tests/run, which installs and builds it): %w", b, err)
		}
	}
	dir, err := os.MkdirTemp("", "nano-kube-")
	if err != nil {
		return nil, err
	}
	k := &Kube{dir: dir}
	if err := k.start(bin, crds); err != nil {
		k.Stop()
		return nil, err
	}
	return k, nil
}

func (k *Kube) start(bin string, crds []string) error {
	pki, err := writeKubePKI(k.dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	etcd := &server{name: "etcd", cmd: exec.Command(EtcdBinary, "--name=rig", "--data-dir="+filepath.Join(k.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=rig="+peerURL,
		"--quota-backend-bytes=2147483648", "--log-level=warn")}
	if err := k.run(etcd, func(ctx context.Context) error { return httpOK(ctx, http.DefaultClient, etcdURL+"/health") }, startTimeout); err != nil {
		return err
	}

	k.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	if k.Kubeconfig, err = pki.kubeconfig(k.Server); err != nil {
		return err
	}
	kubeconfigFile := filepath.Join(k.dir, "admin.kubeconfig")
	if err := os.WriteFile(kubeconfigFile, []byte(k.Kubeconfig), 0o600); err != nil {
		return err
	}
	if k.client, err = adminClient(pki); err != nil {
		return err
	}
	apiserver := &server{name: "kube-apiserver", cmd: exec.Command(filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]), "--cert-dir="+k.dir,
		"--tls-cert-file="+pki.ServerCert, "--tls-private-key-file="+pki.ServerKey, "--client-ca-file="+pki.CA,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki.SAPub, "--service-account-signing-key-file="+pki.SAKey,
		"--service-cluster-ip-range=10.96.0.0/16", "--authorization-mode=Node,RBAC",
		// Real clusters allow privileged containers; with the default
		// (false) a privileged pod would be refused by the flag, not by Pod
		// Security as on a real cluster.
		"--allow-privileged=true", "--profiling=false", "--v=0")}
	ready := func(ctx context.Context) error { return httpOK(ctx, k.client, k.Server+"/readyz") }
	if err := k.run(apiserver, ready, apiserverTimeout); err != nil {
		return err
	}

	cm := &server{name: "kube-controller-manager", cmd: exec.Command(filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+kubeconfigFile, "--authentication-kubeconfig="+kubeconfigFile, "--authorization-kubeconfig="+kubeconfigFile,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[3]), "--leader-elect=false",
		"--service-account-private-key-file="+pki.SAKey, "--root-ca-file="+pki.CA,
		"--use-service-account-credentials=false", "--controllers=*", "--concurrent-deployment-syncs=10", "--v=0")}
	scheduler := &server{name: "kube-scheduler", cmd: exec.Command(filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+kubeconfigFile, "--authentication-kubeconfig="+kubeconfigFile, "--authorization-kubeconfig="+kubeconfigFile,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[4]), "--leader-elect=false", "--v=0")}
	for _, s := range []*server{cm, scheduler} {
		if err := s.start(); err != nil {
			return err
		}
		k.servers = append(k.servers, s)
	}
	for _, f := range crds {
		if err := k.installCRDs(f); err != nil {
			return err
		}
	}
	if err := k.Create(context.Background(), "/apis/storage.k8s.io/v1/storageclasses", map[string]any{
		"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
		"metadata": map[string]any{"name": RigStorageClass,
			"annotations": map[string]any{"storageclass.kubernetes.io/is-default-class": "true"}},
		"provisioner": rigProvisioner, "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete",
	}); err != nil {
		return err
	}
	if err := k.Create(context.Background(), "/apis/networking.k8s.io/v1/ingressclasses", map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
		"metadata": map[string]any{"name": RigIngressClass}, "spec": map[string]any{"controller": "rig.nano.dev/ingress"},
	}); err != nil {
		return err
	}
	k.agent = startNodeAgent(k)
	return nil
}

// run starts one of the control plane's servers and waits, up to timeout,
// until ready says it answers.
func (k *Kube) run(s *server, ready func(context.Context) error, timeout time.Duration) error {
	if err := s.start(); err != nil {
		return err
	}
	k.servers = append(k.servers, s)
	return s.waitReadyWithin(ready, timeout)
}

// Logs are the control plane's output (for a failing test's report).
func (k *Kube) Logs() string {
	var b strings.Builder
	for _, s := range k.servers {
		out := s.log.String()
		if len(out) > 8000 {
			out = "..." + out[len(out)-8000:]
		}
		fmt.Fprintf(&b, "==== %s\n%s\n", s.name, out)
	}
	return b.String()
}

// Stop stops the node agent and the control plane (scheduler and
// controllers first, etcd last) and removes its data.
func (k *Kube) Stop() {
	k.stopped.Do(func() {
		if k.agent != nil {
			k.agent.stop()
		}
		for i := len(k.servers) - 1; i >= 0; i-- {
			k.servers[i].stop()
		}
		_ = os.RemoveAll(k.dir)
	})
}

func adminClient(p kubePKI) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(p.AdminCert, p.AdminKey)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(p.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}}, nil
}

func httpOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}

// APIError is a request the API server refused: its HTTP status and the
// Status object's message.
type APIError struct {
	Code    int
	Reason  string
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Code, e.Reason, e.Message) }

// IsNotFound reports whether err is the API server's 404.
func IsNotFound(err error) bool {
	var a *APIError
	return errors.As(err, &a) && a.Code == http.StatusNotFound
}

// Do sends a request to the API server as the admin: body is encoded as
// JSON (contentType, "" for application/json), the answer decoded into out
// (when not nil). A refusal is an *APIError.
func (k *Kube) Do(ctx context.Context, method, path, contentType string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.Server+path, r)
	if err != nil {
		return err
	}
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var st struct{ Reason, Message string }
		_ = json.Unmarshal(b, &st)
		if st.Message == "" {
			st.Message = string(b)
		}
		return &APIError{Code: resp.StatusCode, Reason: st.Reason, Message: st.Message}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Get reads path into out; Create posts obj to path; Delete deletes path.
func (k *Kube) Get(ctx context.Context, path string, out any) error {
	return k.Do(ctx, http.MethodGet, path, "", nil, out)
}

func (k *Kube) Create(ctx context.Context, path string, obj any) error {
	return k.Do(ctx, http.MethodPost, path, "", obj, nil)
}

func (k *Kube) Delete(ctx context.Context, path string) error {
	return k.Do(ctx, http.MethodDelete, path, "", map[string]any{"gracePeriodSeconds": 0}, nil)
}

// MergePatch applies a JSON merge patch to path.
func (k *Kube) MergePatch(ctx context.Context, path string, patch any) error {
	return k.Do(ctx, http.MethodPatch, path, "application/merge-patch+json", patch, nil)
}

// Object is a Kubernetes object as JSON.
type Object = map[string]any

// List is a list answer: its items.
type List struct {
	Items []Object `json:"items"`
}

// installCRDs creates the CustomResourceDefinitions of a YAML file (one or
// many documents) and waits until each is established.
func (k *Kube) installCRDs(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, doc := range splitYAML(raw) {
		var crd Object
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if crd["kind"] != "CustomResourceDefinition" {
			continue
		}
		name := fmt.Sprint(crd["metadata"].(map[string]any)["name"])
		if err := k.Create(ctx, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd); err != nil {
			return fmt.Errorf("CRD %s from %s: %w", name, file, err)
		}
		if err := k.waitCRD(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (k *Kube) waitCRD(ctx context.Context, name string) error {
	for {
		var crd struct {
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		}
		if err := k.Get(ctx, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+name, &crd); err != nil {
			return err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == "Established" && c.Status == "True" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// splitYAML splits a multi-document YAML file at its "---" lines.
func splitYAML(raw []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), raw...), []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}
