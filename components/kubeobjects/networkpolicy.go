package kubeobjects

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nanosiem/nano/services/contract"
)

// OperatorsNamespace is where the Platform component installs the operators.
const OperatorsNamespace = operatorsNSs

// networkPolicies deny all traffic in the namespace, then allow exactly
// what nano needs: clients to the services, services to the databases, the
// databases' own replication, the operators to what they manage, and
// Prometheus to its targets.
func (s Spec) networkPolicies() []Object {
	dbEgress := s.databaseEgress()
	out := []Object{
		netPolicy("default-deny", everyPod(), noIngress(), []networkingv1.NetworkPolicyEgressRule{}),
		netPolicy("allow-dns", everyPod(), nil, []networkingv1.NetworkPolicyEgressRule{{
			To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: selector("kubernetes.io/metadata.name", "kube-system")}},
			Ports: []networkingv1.NetworkPolicyPort{
				{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(port(53))}, {Protocol: ptr(corev1.ProtocolTCP), Port: ptr(port(53))},
			},
		}}),
	}
	out = append(out, servicePolicies(dbEgress)...)
	out = append(out,
		netPolicy("prometheus", appPods("prometheus"), noIngress(), []networkingv1.NetworkPolicyEgressRule{
			{To: podPeers(everyPod())}, toAPIServer(),
		}),
		alertmanagerPolicy(),
	)
	if s.Domain != "" {
		// cert-manager's HTTP-01 solver pods answer Let's Encrypt through
		// the ingress controller.
		out = append(out, netPolicy("acme-solver", selector(acmeSolverLabel, "true"),
			[]networkingv1.NetworkPolicyIngressRule{{Ports: tcpPorts(acmeSolverPort)}}, nil))
	}
	if !s.Tier.ClickHouse.Cloud {
		out = append(out, s.clickhousePolicies()...)
	}
	if !s.Tier.Postgres.Managed {
		out = append(out, postgresPolicy())
	}
	return out
}

// everyPod selects every pod of the namespace.
func everyPod() *metav1.LabelSelector { return &metav1.LabelSelector{} }

// noIngress admits nothing in.
func noIngress() []networkingv1.NetworkPolicyIngressRule {
	return []networkingv1.NetworkPolicyIngressRule{}
}

// clientPods are the services that use the databases.
func clientPods() []*metav1.LabelSelector {
	return []*metav1.LabelSelector{appPods("api"), appPods("search"), appPods("ingest")}
}

func selector(k, v string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
}

// appPods selects the pods of one of nano's apps.
func appPods(name string) *metav1.LabelSelector { return selector(labelApp, name) }

func tcpPorts(ns ...int) []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for _, n := range ns {
		out = append(out, networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(port(n))})
	}
	return out
}

func podPeers(selectors ...*metav1.LabelSelector) []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for _, s := range selectors {
		out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: s})
	}
	return out
}

// operatorPeers are the operators' pods.
func operatorPeers() []networkingv1.NetworkPolicyPeer {
	return []networkingv1.NetworkPolicyPeer{{NamespaceSelector: selector("kubernetes.io/metadata.name", OperatorsNamespace)}}
}

// prometheusPeers are Prometheus' pods, which scrape the targets.
func prometheusPeers() []networkingv1.NetworkPolicyPeer { return podPeers(appPods("prometheus")) }

// anywhere is every IPv4 and IPv6 address.
func anywhere() []networkingv1.NetworkPolicyPeer {
	return []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}, {IPBlock: &networkingv1.IPBlock{CIDR: "::/0"}}}
}

// toAPIServer reaches the Kubernetes API (and other HTTPS).
func toAPIServer() networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: anywhere(), Ports: tcpPorts(443, 6443)}
}

// netPolicy is a NetworkPolicy of target's pods; a nil in or out leaves
// that direction unrestricted.
func netPolicy(name string, target *metav1.LabelSelector, in []networkingv1.NetworkPolicyIngressRule, out []networkingv1.NetworkPolicyEgressRule) Object {
	types := []networkingv1.PolicyType{}
	if in != nil {
		types = append(types, networkingv1.PolicyTypeIngress)
	}
	if out != nil {
		types = append(types, networkingv1.PolicyTypeEgress)
	}
	return typed("networking.k8s.io/v1", "NetworkPolicy", networkingv1.NetworkPolicy{
		ObjectMeta: meta(name, labels("nano")),
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: *target, PolicyTypes: types, Ingress: in, Egress: out},
	})
}

// databaseEgress is the services' egress to their databases: the pods in
// the cluster, or anywhere on the managed service's port.
func (s Spec) databaseEgress() []networkingv1.NetworkPolicyEgressRule {
	var dbEgress []networkingv1.NetworkPolicyEgressRule
	if s.Tier.ClickHouse.Cloud {
		dbEgress = append(dbEgress, networkingv1.NetworkPolicyEgressRule{To: anywhere(), Ports: tcpPorts(s.ClickHouse.Port)})
	} else {
		dbEgress = append(dbEgress, networkingv1.NetworkPolicyEgressRule{To: podPeers(selector(chiLabel, chiName)), Ports: tcpPorts(chNative, chHTTP)})
	}
	if s.Tier.Postgres.Managed {
		dbEgress = append(dbEgress, networkingv1.NetworkPolicyEgressRule{To: anywhere(), Ports: tcpPorts(s.Postgres.Port)})
	} else {
		dbEgress = append(dbEgress, networkingv1.NetworkPolicyEgressRule{To: podPeers(selector(cnpgLabel, cnpgName)), Ports: tcpPorts(pgPort)})
	}
	return dbEgress
}

// servicePolicies are api's, search's, web's and ingest's. Clients reach
// api, search and web through the ingress controller, and the ingest ports
// through the load balancer, from anywhere.
func servicePolicies(dbEgress []networkingv1.NetworkPolicyEgressRule) []Object {
	return []Object{
		netPolicy("api", appPods("api"), []networkingv1.NetworkPolicyIngressRule{{Ports: tcpPorts(contract.Ports.API)}}, apiEgress(dbEgress)),
		netPolicy("search", appPods("search"), []networkingv1.NetworkPolicyIngressRule{{Ports: tcpPorts(contract.Ports.Search)}}, dbEgress),
		// The UI's pods call nothing (the browser calls api and search):
		// no egress but DNS.
		netPolicy("web", appPods("web"), []networkingv1.NetworkPolicyIngressRule{
			{Ports: tcpPorts(contract.Ports.Web)},
			{From: prometheusPeers(), Ports: tcpPorts(contract.Ports.WebOps)},
		}, nil),
		netPolicy("ingest", appPods("ingest"), []networkingv1.NetworkPolicyIngressRule{
			{Ports: tcpPorts(contract.Ports.IngestHTTP, contract.Ports.IngestHEC, contract.Ports.IngestNative, contract.Ports.IngestOTLP)},
			{Ports: tcpPorts(contract.Ports.IngestSyslogTLS)},
			{From: prometheusPeers(), Ports: tcpPorts(contract.Ports.IngestMetrics)},
		}, dbEgress),
	}
}

// apiEgress is the api's egress: its databases, every Alertmanager (it
// posts alerts and manages silences), and the enrichment datasets its
// scheduler fetches from URLs: the public internet on HTTP(S) only, never
// the cluster, private networks or the clouds' metadata endpoints
// (169.254.169.254), so a dataset URL cannot reach what an attacker
// should not.
func apiEgress(dbEgress []networkingv1.NetworkPolicyEgressRule) []networkingv1.NetworkPolicyEgressRule {
	out := append([]networkingv1.NetworkPolicyEgressRule{{
		To: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{
				"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
			}}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: []string{"::1/128", "fc00::/7", "fe80::/10"}}},
		},
		Ports: tcpPorts(80, 443),
	}}, dbEgress...)
	return append(out, networkingv1.NetworkPolicyEgressRule{To: podPeers(appPods(alertmanagerName)), Ports: tcpPorts(contract.AlertmanagerPort)})
}

// alertmanagerPolicy: Alertmanager takes alerts from the api and
// Prometheus and gossips with its peers; it sends notifications to the
// receivers of its configuration, wherever the operator put them
// (webhooks, Slack, PagerDuty, SMTP), but never to the clouds' metadata
// endpoints.
func alertmanagerPolicy() Object {
	amPods := appPods(alertmanagerName)
	mesh := append(tcpPorts(contract.AlertmanagerClusterPort), networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(port(contract.AlertmanagerClusterPort))})
	return netPolicy(alertmanagerName, amPods, []networkingv1.NetworkPolicyIngressRule{
		{From: podPeers(appPods("api"), appPods("prometheus")), Ports: tcpPorts(contract.AlertmanagerPort)},
		{From: podPeers(amPods), Ports: mesh},
	}, []networkingv1.NetworkPolicyEgressRule{
		{To: podPeers(amPods), Ports: mesh},
		{To: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"169.254.0.0/16"}}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: []string{"fe80::/10"}}},
		}},
	})
}

// clickhousePolicies are the in-cluster ClickHouse's and Keeper's: their
// clients, replicas and operator in, Prometheus to their metrics; the
// bucket (warm disk, backups) out where there is one.
func (s Spec) clickhousePolicies() []Object {
	chPods, keeperPods := selector(chiLabel, chiName), selector(chkLabel, chkName)
	chEgress := []networkingv1.NetworkPolicyEgressRule{
		{To: podPeers(chPods), Ports: tcpPorts(chNative, chHTTP, chInter)},
		{To: podPeers(keeperPods), Ports: tcpPorts(keeperPort)},
	}
	if s.HasBucket() {
		// The warm disk, and BACKUP/RESTORE to the bucket.
		chEgress = append(chEgress, networkingv1.NetworkPolicyEgressRule{To: anywhere(), Ports: tcpPorts(443)})
	}
	return []Object{
		netPolicy("clickhouse", chPods, []networkingv1.NetworkPolicyIngressRule{
			{From: podPeers(clientPods()...), Ports: tcpPorts(chNative, chHTTP)},
			{From: podPeers(chPods), Ports: tcpPorts(chNative, chHTTP, chInter)},
			{From: operatorPeers(), Ports: tcpPorts(chNative, chHTTP)},
			{From: prometheusPeers(), Ports: tcpPorts(chMetrics)},
		}, chEgress),
		netPolicy("clickhouse-keeper", keeperPods, []networkingv1.NetworkPolicyIngressRule{
			{From: podPeers(chPods, keeperPods), Ports: tcpPorts(keeperPort)},
			{From: podPeers(keeperPods), Ports: tcpPorts(raftPort)},
			{From: operatorPeers(), Ports: tcpPorts(keeperPort)},
			{From: prometheusPeers(), Ports: tcpPorts(chMetrics)},
		}, []networkingv1.NetworkPolicyEgressRule{{To: podPeers(keeperPods), Ports: tcpPorts(keeperPort, raftPort)}}),
	}
}

// postgresPolicy is the in-cluster PostgreSQL's: its clients, replicas
// and operator in, the exporter's port to Prometheus.
func postgresPolicy() Object {
	pgPods := selector(cnpgLabel, cnpgName)
	const instanceManager = 8000
	pgEgress := []networkingv1.NetworkPolicyEgressRule{
		{To: podPeers(pgPods), Ports: tcpPorts(pgPort, instanceManager)},
		// The instance manager talks to the Kubernetes API; Barman
		// Cloud uploads WAL and base backups over the same HTTPS.
		toAPIServer(),
	}
	return netPolicy("postgres", pgPods, []networkingv1.NetworkPolicyIngressRule{
		{From: podPeers(clientPods()...), Ports: tcpPorts(pgPort)},
		{From: podPeers(pgPods), Ports: tcpPorts(pgPort, instanceManager)},
		{From: operatorPeers(), Ports: tcpPorts(pgPort, instanceManager)},
		{From: prometheusPeers(), Ports: tcpPorts(contract.Ports.PostgresExporter)},
	}, pgEgress)
}
