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
	sel := func(k, v string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
	}
	app := func(name string) *metav1.LabelSelector { return sel(labelApp, name) }
	ports := func(ns ...int) []networkingv1.NetworkPolicyPort {
		var out []networkingv1.NetworkPolicyPort
		for _, n := range ns {
			out = append(out, networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(port(n))})
		}
		return out
	}
	pods := func(selectors ...*metav1.LabelSelector) []networkingv1.NetworkPolicyPeer {
		var out []networkingv1.NetworkPolicyPeer
		for _, s := range selectors {
			out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: s})
		}
		return out
	}
	operators := networkingv1.NetworkPolicyPeer{NamespaceSelector: sel("kubernetes.io/metadata.name", OperatorsNamespace)}
	anywhere := []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}, {IPBlock: &networkingv1.IPBlock{CIDR: "::/0"}}}
	clients := []*metav1.LabelSelector{app("api"), app("search"), app("ingest")}
	prom := pods(app("prometheus"))
	policy := func(name string, target *metav1.LabelSelector, in []networkingv1.NetworkPolicyIngressRule, out []networkingv1.NetworkPolicyEgressRule) Object {
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
	none := []networkingv1.NetworkPolicyIngressRule{}
	all := &metav1.LabelSelector{}
	apiServer := networkingv1.NetworkPolicyEgressRule{To: anywhere, Ports: ports(443, 6443)}

	// Egress of the services to their databases.
	var dbEgress []networkingv1.NetworkPolicyEgressRule
	if s.Tier.ClickHouse.Cloud {
		dbEgress = append(dbEgress, networkingv1.NetworkPolicyEgressRule{To: anywhere, Ports: ports(s.ClickHouse.Port)})
	} else {
		dbEgress = append(dbEgress, networkingv1.NetworkPolicyEgressRule{To: pods(sel(chiLabel, chiName)), Ports: ports(chNative, chHTTP)})
	}
	if s.Tier.Postgres.Managed {
		dbEgress = append(dbEgress, networkingv1.NetworkPolicyEgressRule{To: anywhere, Ports: ports(s.Postgres.Port)})
	} else {
		dbEgress = append(dbEgress, networkingv1.NetworkPolicyEgressRule{To: pods(sel(cnpgLabel, cnpgName)), Ports: ports(pgPort)})
	}

	// The api's scheduler fetches enrichment datasets from URLs: the public
	// internet on HTTP(S) only, never the cluster, private networks or the
	// clouds' metadata endpoints (169.254.169.254), so a dataset URL cannot
	// reach what an attacker should not.
	apiEgress := append([]networkingv1.NetworkPolicyEgressRule{{
		To: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{
				"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
			}}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: []string{"::1/128", "fc00::/7", "fe80::/10"}}},
		},
		Ports: ports(80, 443),
	}}, dbEgress...)

	// The api posts alerts and manages silences at every Alertmanager.
	amPods := app(alertmanagerName)
	apiEgress = append(apiEgress, networkingv1.NetworkPolicyEgressRule{To: pods(amPods), Ports: ports(contract.AlertmanagerPort)})
	mesh := append(ports(contract.AlertmanagerClusterPort), networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(port(contract.AlertmanagerClusterPort))})

	out := []Object{
		policy("default-deny", all, none, []networkingv1.NetworkPolicyEgressRule{}),
		policy("allow-dns", all, nil, []networkingv1.NetworkPolicyEgressRule{{
			To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("kubernetes.io/metadata.name", "kube-system")}},
			Ports: []networkingv1.NetworkPolicyPort{
				{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(port(53))}, {Protocol: ptr(corev1.ProtocolTCP), Port: ptr(port(53))},
			},
		}}),
		// Clients reach api, search and web through the ingress controller, and
		// the ingest ports through the load balancer, from anywhere.
		policy("api", app("api"), []networkingv1.NetworkPolicyIngressRule{{Ports: ports(contract.Ports.API)}}, apiEgress),
		policy("search", app("search"), []networkingv1.NetworkPolicyIngressRule{{Ports: ports(contract.Ports.Search)}}, dbEgress),
		// The UI's pods call nothing (the browser calls api and search):
		// no egress but DNS.
		policy("web", app("web"), []networkingv1.NetworkPolicyIngressRule{
			{Ports: ports(contract.Ports.Web)},
			{From: prom, Ports: ports(contract.Ports.WebOps)},
		}, nil),
		policy("ingest", app("ingest"), []networkingv1.NetworkPolicyIngressRule{
			{Ports: ports(contract.Ports.IngestHTTP, contract.Ports.IngestHEC, contract.Ports.IngestNative, contract.Ports.IngestOTLP)},
			{Ports: ports(contract.Ports.IngestSyslogTLS)},
			{From: prom, Ports: ports(contract.Ports.IngestMetrics)},
		}, dbEgress),
		policy("prometheus", app("prometheus"), none, []networkingv1.NetworkPolicyEgressRule{
			{To: pods(all)}, apiServer,
		}),
		// Alertmanager takes alerts from the api and Prometheus and gossips
		// with its peers; it sends notifications to the receivers of its
		// configuration, wherever the operator put them (webhooks, Slack,
		// PagerDuty, SMTP), but never to the clouds' metadata endpoints.
		policy(alertmanagerName, amPods, []networkingv1.NetworkPolicyIngressRule{
			{From: pods(app("api"), app("prometheus")), Ports: ports(contract.AlertmanagerPort)},
			{From: pods(amPods), Ports: mesh},
		}, []networkingv1.NetworkPolicyEgressRule{
			{To: pods(amPods), Ports: mesh},
			{To: []networkingv1.NetworkPolicyPeer{
				{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"169.254.0.0/16"}}},
				{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: []string{"fe80::/10"}}},
			}},
		}),
	}
	if s.Domain != "" {
		// cert-manager's HTTP-01 solver pods answer Let's Encrypt through
		// the ingress controller.
		out = append(out, policy("acme-solver", sel(acmeSolverLabel, "true"),
			[]networkingv1.NetworkPolicyIngressRule{{Ports: ports(acmeSolverPort)}}, nil))
	}
	if !s.Tier.ClickHouse.Cloud {
		chPods, keeperPods := sel(chiLabel, chiName), sel(chkLabel, chkName)
		chEgress := []networkingv1.NetworkPolicyEgressRule{
			{To: pods(chPods), Ports: ports(chNative, chHTTP, chInter)},
			{To: pods(keeperPods), Ports: ports(keeperPort)},
		}
		if s.HasBucket() {
			// The warm disk, and BACKUP/RESTORE to the bucket.
			chEgress = append(chEgress, networkingv1.NetworkPolicyEgressRule{To: anywhere, Ports: ports(443)})
		}
		out = append(out,
			policy("clickhouse", chPods, []networkingv1.NetworkPolicyIngressRule{
				{From: pods(clients...), Ports: ports(chNative, chHTTP)},
				{From: pods(chPods), Ports: ports(chNative, chHTTP, chInter)},
				{From: []networkingv1.NetworkPolicyPeer{operators}, Ports: ports(chNative, chHTTP)},
				{From: prom, Ports: ports(chMetrics)},
			}, chEgress),
			policy("clickhouse-keeper", keeperPods, []networkingv1.NetworkPolicyIngressRule{
				{From: pods(chPods, keeperPods), Ports: ports(keeperPort)},
				{From: pods(keeperPods), Ports: ports(raftPort)},
				{From: []networkingv1.NetworkPolicyPeer{operators}, Ports: ports(keeperPort)},
				{From: prom, Ports: ports(chMetrics)},
			}, []networkingv1.NetworkPolicyEgressRule{{To: pods(keeperPods), Ports: ports(keeperPort, raftPort)}}),
		)
	}
	if !s.Tier.Postgres.Managed {
		pgPods := sel(cnpgLabel, cnpgName)
		const instanceManager = 8000
		pgEgress := []networkingv1.NetworkPolicyEgressRule{
			{To: pods(pgPods), Ports: ports(pgPort, instanceManager)},
			// The instance manager talks to the Kubernetes API; Barman
			// Cloud uploads WAL and base backups over the same HTTPS.
			apiServer,
		}
		out = append(out, policy("postgres", pgPods, []networkingv1.NetworkPolicyIngressRule{
			{From: pods(clients...), Ports: ports(pgPort)},
			{From: pods(pgPods), Ports: ports(pgPort, instanceManager)},
			{From: []networkingv1.NetworkPolicyPeer{operators}, Ports: ports(pgPort, instanceManager)},
			{From: prom, Ports: ports(contract.Ports.PostgresExporter)},
		}, pgEgress))
	}
	return out
}
