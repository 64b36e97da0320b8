package harness

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// rigProvisioner is the provisioner name of the rig's storage class.
const rigProvisioner = "rig.nano.dev/local"

// NodePool is a group of Node objects shaped like one of a tier's pools.
type NodePool struct {
	// Name prefixes the nodes' names (<name>-0, <name>-1, ...).
	Name  string
	Nodes int
	// CPU (cores) and MemoryGB are the machines' capacity; with Reserved,
	// allocatable keeps back what a managed cloud reserves (allocatable).
	CPU, MemoryGB int
	Reserved      bool
	Labels        map[string]string
	// Taints are key=value:Effect.
	Taints []string
}

// Zones are where the harness places a pool's nodes, round robin.
var Zones = []string{"rig-a", "rig-b", "rig-c"}

// allocatable is a node's allocatable CPU (millicores) and memory (MiB).
// On managed clouds (reserved) it is capacity less what GKE reserves for
// the system on such a machine (EKS reserves about as much): 6% of the
// first core, 1% of the second, 0.5% of the next two and 0.25% of the
// rest; 25% of the first 4 GiB of memory, 20% of the next 4, 10% of the
// next 8 and 6% of the rest up to 128 GiB, plus 100 MiB for eviction. So a
// pod set sized for an idealised node does not fit here either. k3s
// (Growth) reserves nothing by default.
func allocatable(cpu, memGB int, reserved bool) (milliCPU, memMiB int) {
	milliCPU, memMiB = cpu*1000, memGB*1024
	if !reserved {
		return milliCPU, memMiB
	}
	cpuRes := 0.0
	for i := 1; i <= cpu; i++ {
		switch {
		case i == 1:
			cpuRes += 60
		case i == 2:
			cpuRes += 10
		case i <= 4:
			cpuRes += 5
		default:
			cpuRes += 2.5
		}
	}
	left, memRes := memMiB, 100
	for _, band := range []struct{ size, pct int }{{4096, 25}, {4096, 20}, {8192, 10}, {114688, 6}} {
		take := min(left, band.size)
		memRes += take * band.pct / 100
		left -= take
	}
	return milliCPU - int(cpuRes), memMiB - memRes
}

// AddNodes registers the pools' nodes, Ready, with their capacity, zone,
// labels and taints, and keeps them fresh (leases) until RemoveNodes or
// Stop.
func (k *Kube) AddNodes(ctx context.Context, pools ...NodePool) error {
	for _, p := range pools {
		for i := 0; i < p.Nodes; i++ {
			name := fmt.Sprintf("%s-%d", p.Name, i)
			if err := k.addNode(ctx, name, Zones[i%len(Zones)], p); err != nil {
				return fmt.Errorf("node %s: %w", name, err)
			}
		}
	}
	return nil
}

func (k *Kube) addNode(ctx context.Context, name, zone string, p NodePool) error {
	labels := map[string]any{
		"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		"topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "rig",
	}
	for key, v := range p.Labels {
		labels[key] = v
	}
	var taints []any
	for _, t := range p.Taints {
		kv, effect, _ := strings.Cut(t, ":")
		key, value, _ := strings.Cut(kv, "=")
		taints = append(taints, map[string]any{"key": key, "value": value, "effect": effect})
	}
	node := Object{"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": name, "labels": labels},
		"spec":     map[string]any{"taints": taints}}
	if err := k.Create(ctx, "/api/v1/nodes", node); err != nil {
		return err
	}
	milli, mem := allocatable(p.CPU, p.MemoryGB, p.Reserved)
	ip := k.agent.nodeIP(name)
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(typ, status, reason string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "lastHeartbeatTime": now, "lastTransitionTime": now}
	}
	status := map[string]any{"status": map[string]any{
		"capacity": map[string]any{"cpu": fmt.Sprint(p.CPU), "memory": fmt.Sprintf("%dGi", p.MemoryGB), "pods": "110", "ephemeral-storage": "100Gi"},
		"allocatable": map[string]any{"cpu": fmt.Sprintf("%dm", milli), "memory": fmt.Sprintf("%dMi", mem), "pods": "110",
			"ephemeral-storage": "90Gi"},
		"conditions": []any{cond("Ready", "True", "KubeletReady"), cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
			cond("DiskPressure", "False", "KubeletHasNoDiskPressure"), cond("PIDPressure", "False", "KubeletHasSufficientPID")},
		"addresses": []any{map[string]any{"type": "InternalIP", "address": ip}, map[string]any{"type": "Hostname", "address": name}},
		"nodeInfo": map[string]any{"kubeletVersion": KubeVersion, "operatingSystem": "linux", "architecture": "amd64",
			"containerRuntimeVersion": "none://rig", "osImage": "nano rig (no kubelet)"},
	}}
	if err := k.MergePatch(ctx, "/api/v1/nodes/"+name+"/status", status); err != nil {
		return err
	}
	k.agent.addNode(name)
	return k.agent.renewLease(ctx, name)
}

// RemoveNodes deletes every node (and stops renewing their leases).
func (k *Kube) RemoveNodes(ctx context.Context) error {
	for _, name := range k.agent.nodes() {
		if err := k.Delete(ctx, "/api/v1/nodes/"+name); err != nil && !IsNotFound(err) {
			return err
		}
		k.agent.removeNode(name)
	}
	return nil
}

// nodeAgent plays, for the rig's nodes, the parts of the API that kubelets,
// a cloud's load-balancer controller, an ingress controller and a volume
// provisioner play on a real cluster, and nothing else:
//   - it renews each node's Lease, so the node lifecycle controller keeps
//     the nodes Ready;
//   - a pod the scheduler bound to a node is reported Running and Ready,
//     with a pod IP (no container runs; probes are not run);
//   - a pod being deleted is removed once it is marked for deletion, as a
//     kubelet does after its containers stop;
//   - LoadBalancer Services and Ingresses of RigIngressClass get
//     RigLoadBalancerIP as their address;
//   - a claim of RigStorageClass that the scheduler selected a node for
//     gets a local PersistentVolume on that node; released ones are deleted.
type nodeAgent struct {
	k      *Kube
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	names   map[string]bool
	ips     map[string]string
	podIPs  int
	lastErr error
}

func startNodeAgent(k *Kube) *nodeAgent {
	ctx, cancel := context.WithCancel(context.Background())
	a := &nodeAgent{k: k, cancel: cancel, done: make(chan struct{}), names: map[string]bool{}, ips: map[string]string{}}
	go a.loop(ctx)
	return a
}

func (a *nodeAgent) stop() {
	a.cancel()
	<-a.done
}

func (a *nodeAgent) nodeIP(name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.ips[name]; ok {
		return ip
	}
	ip := fmt.Sprintf("10.0.%d.%d", len(a.ips)/250, len(a.ips)%250+1)
	a.ips[name] = ip
	return ip
}

func (a *nodeAgent) addNode(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.names[name] = true
}

func (a *nodeAgent) removeNode(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.names, name)
}

func (a *nodeAgent) nodes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for n := range a.names {
		out = append(out, n)
	}
	return out
}

func (a *nodeAgent) nextPodIP() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.podIPs++
	return fmt.Sprintf("10.244.%d.%d", a.podIPs/250, a.podIPs%250+1)
}

func (a *nodeAgent) loop(ctx context.Context) {
	defer close(a.done)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastLease := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		step, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := a.pods(step)
		if err == nil {
			err = a.addresses(step)
		}
		if err == nil {
			err = a.volumes(step)
		}
		if err == nil && time.Since(lastLease) > 10*time.Second {
			for _, n := range a.nodes() {
				if err = a.renewLease(step, n); err != nil {
					break
				}
			}
			lastLease = time.Now()
		}
		cancel()
		a.mu.Lock()
		a.lastErr = err
		a.mu.Unlock()
	}
}

// AgentErr is the node agent's last error (nil when its last round went well).
func (k *Kube) AgentErr() error {
	k.agent.mu.Lock()
	defer k.agent.mu.Unlock()
	return k.agent.lastErr
}

func (a *nodeAgent) renewLease(ctx context.Context, node string) error {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	path := "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + node
	err := a.k.MergePatch(ctx, path, map[string]any{"spec": map[string]any{"renewTime": now}})
	if IsNotFound(err) {
		err = a.k.Create(ctx, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", Object{
			"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
			"metadata": map[string]any{"name": node, "namespace": "kube-node-lease"},
			"spec":     map[string]any{"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now},
		})
	}
	return err
}

// pods reports bound pods running and removes pods marked for deletion.
func (a *nodeAgent) pods(ctx context.Context) error {
	var pods struct {
		Items []struct {
			Metadata struct {
				Name, Namespace   string
				DeletionTimestamp string `json:"deletionTimestamp"`
			} `json:"metadata"`
			Spec struct {
				NodeName       string `json:"nodeName"`
				Containers     []struct{ Name, Image string }
				InitContainers []struct{ Name, Image string } `json:"initContainers"`
			} `json:"spec"`
			Status struct {
				Phase  string `json:"phase"`
				HostIP string `json:"hostIP"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := a.k.Get(ctx, "/api/v1/pods", &pods); err != nil {
		return err
	}
	for _, p := range pods.Items {
		path := "/api/v1/namespaces/" + p.Metadata.Namespace + "/pods/" + p.Metadata.Name
		switch {
		case p.Metadata.DeletionTimestamp != "":
			if err := a.k.Delete(ctx, path); err != nil && !IsNotFound(err) {
				return err
			}
		case p.Spec.NodeName != "" && p.Status.Phase == "Pending":
			now := time.Now().UTC().Format(time.RFC3339)
			ready := func(typ string) map[string]any {
				return map[string]any{"type": typ, "status": "True", "lastTransitionTime": now}
			}
			var containers, inits []any
			for _, c := range p.Spec.Containers {
				containers = append(containers, map[string]any{"name": c.Name, "image": c.Image, "imageID": "", "ready": true,
					"started": true, "restartCount": 0, "state": map[string]any{"running": map[string]any{"startedAt": now}}})
			}
			for _, c := range p.Spec.InitContainers {
				inits = append(inits, map[string]any{"name": c.Name, "image": c.Image, "imageID": "", "ready": true, "restartCount": 0,
					"state": map[string]any{"terminated": map[string]any{"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}})
			}
			ip := a.nextPodIP()
			status := map[string]any{"status": map[string]any{
				"phase": "Running", "hostIP": a.nodeIP(p.Spec.NodeName), "podIP": ip, "podIPs": []any{map[string]any{"ip": ip}},
				"startTime":         now,
				"conditions":        []any{ready("PodScheduled"), ready("Initialized"), ready("ContainersReady"), ready("Ready")},
				"containerStatuses": containers, "initContainerStatuses": inits,
			}}
			if err := a.k.MergePatch(ctx, path+"/status", status); err != nil && !IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// addresses gives LoadBalancer Services and the rig class's Ingresses an
// address.
func (a *nodeAgent) addresses(ctx context.Context) error {
	type withStatus struct {
		Metadata struct{ Name, Namespace string } `json:"metadata"`
		Spec     struct {
			Type             string `json:"type"`
			IngressClassName string `json:"ingressClassName"`
		} `json:"spec"`
		Status struct {
			LoadBalancer struct {
				Ingress []any `json:"ingress"`
			} `json:"loadBalancer"`
		} `json:"status"`
	}
	lb := map[string]any{"status": map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": RigLoadBalancerIP}}}}}
	for _, kind := range []struct {
		list, item string
		ingress    bool
	}{
		{"/api/v1/services", "/api/v1/namespaces/%s/services/%s/status", false},
		{"/apis/networking.k8s.io/v1/ingresses", "/apis/networking.k8s.io/v1/namespaces/%s/ingresses/%s/status", true},
	} {
		var list struct{ Items []withStatus }
		if err := a.k.Get(ctx, kind.list, &list); err != nil {
			return err
		}
		for _, o := range list.Items {
			wants := o.Spec.Type == "LoadBalancer" || (kind.ingress && o.Spec.IngressClassName == RigIngressClass)
			if !wants || len(o.Status.LoadBalancer.Ingress) > 0 {
				continue
			}
			if err := a.k.MergePatch(ctx, fmt.Sprintf(kind.item, o.Metadata.Namespace, o.Metadata.Name), lb); err != nil && !IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// volumes provisions local volumes for claims the scheduler placed, and
// deletes released ones, as a local-path provisioner does.
func (a *nodeAgent) volumes(ctx context.Context) error {
	var claims struct {
		Items []struct {
			Metadata struct {
				Name, Namespace, UID string
				Annotations          map[string]string
			} `json:"metadata"`
			Spec struct {
				StorageClassName string   `json:"storageClassName"`
				VolumeName       string   `json:"volumeName"`
				AccessModes      []string `json:"accessModes"`
				Resources        struct {
					Requests map[string]string `json:"requests"`
				} `json:"resources"`
			} `json:"spec"`
		} `json:"items"`
	}
	if err := a.k.Get(ctx, "/api/v1/persistentvolumeclaims", &claims); err != nil {
		return err
	}
	for _, c := range claims.Items {
		node := c.Metadata.Annotations["volume.kubernetes.io/selected-node"]
		if c.Spec.StorageClassName != RigStorageClass || c.Spec.VolumeName != "" || node == "" {
			continue
		}
		pv := Object{"apiVersion": "v1", "kind": "PersistentVolume",
			"metadata": map[string]any{"name": "rig-" + c.Metadata.UID,
				"annotations": map[string]any{"pv.kubernetes.io/provisioned-by": rigProvisioner}},
			"spec": map[string]any{
				"capacity": map[string]any{"storage": c.Spec.Resources.Requests["storage"]}, "accessModes": c.Spec.AccessModes,
				"persistentVolumeReclaimPolicy": "Delete", "storageClassName": RigStorageClass,
				"claimRef": map[string]any{"namespace": c.Metadata.Namespace, "name": c.Metadata.Name, "uid": c.Metadata.UID},
				"local":    map[string]any{"path": "/var/lib/nano-rig/" + url.PathEscape(c.Metadata.UID)},
				"nodeAffinity": map[string]any{"required": map[string]any{"nodeSelectorTerms": []any{map[string]any{
					"matchExpressions": []any{map[string]any{"key": "kubernetes.io/hostname", "operator": "In", "values": []any{node}}},
				}}}},
			}}
		if err := a.k.Create(ctx, "/api/v1/persistentvolumes", pv); err != nil && !strings.Contains(err.Error(), "AlreadyExists") {
			return err
		}
	}
	var vols struct {
		Items []struct {
			Metadata struct{ Name string }  `json:"metadata"`
			Status   struct{ Phase string } `json:"status"`
		} `json:"items"`
	}
	if err := a.k.Get(ctx, "/api/v1/persistentvolumes", &vols); err != nil {
		return err
	}
	for _, v := range vols.Items {
		if strings.HasPrefix(v.Metadata.Name, "rig-") && (v.Status.Phase == "Released" || v.Status.Phase == "Failed") {
			if err := a.k.Delete(ctx, "/api/v1/persistentvolumes/"+v.Metadata.Name); err != nil && !IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}
