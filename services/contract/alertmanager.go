package contract

// Alertmanager: every tier runs Prometheus's Alertmanager beside
// Prometheus; the api leader posts detections' alerts to it and
// Prometheus its platform alerts, and it routes both to the receivers of
// the stack's nano:alertmanagerConfig.
const (
	AlertmanagerImage = "prom/alertmanager:v0.35.0"
	// AlertmanagerConfigFile is where Alertmanager reads its configuration
	// (the Compose host's file, the clusters' Secret, mounted).
	AlertmanagerConfigFile = "/etc/alertmanager/alertmanager.yml"
	// AlertmanagerPort serves its API; AlertmanagerClusterPort is the
	// gossip of a cluster's members (the HA tiers').
	AlertmanagerPort        = 9093
	AlertmanagerClusterPort = 9094
	// UnconfiguredReceiver is the receiver of the configuration nano
	// deploys while nano:alertmanagerConfig is unset: it has no
	// integrations, so alerts are routed nowhere; the api reports it
	// (alerts are not sent anywhere).
	UnconfiguredReceiver = "nano-not-configured"
)

// The api's delivery of detections to Alertmanager; unset keeps the
// default given here.
const (
	// AlertmanagerURLs are the base URLs of every Alertmanager instance,
	// comma-separated (http://alertmanager:9093): the api posts each alert
	// to all of them (Alertmanager's documented way for a cluster) and
	// manages silences through the first that answers. Unset: alerts are
	// kept in nano only.
	AlertmanagerURLs = "NANO_ALERTMANAGER_URLS"
	// AlertmanagerResend is how often the leader posts an open alert
	// again (1m); the alert's end is set four of these ahead, so an alert
	// a dead leader stops posting resolves by itself.
	AlertmanagerResend = "NANO_ALERTMANAGER_RESEND"
	// AlertSampleEvents is how many events a detection keeps with its
	// alert and shows in the notification (3, at most 10).
	AlertSampleEvents = "NANO_ALERT_SAMPLE_EVENTS"
	// WebURL is the web UI's public base URL (https://logs.example.com):
	// notifications link to the search that shows an alert's events.
	// Unset: the links are relative (#/search?...).
	WebURL = "NANO_WEB_URL"
)

// Labels of the alerts Alertmanager receives: a detection's carry the
// rule's name as alertname, its id, its tenant and its severity, then the
// rule's own labels and its group-by values; Prometheus's platform alerts
// carry tenant PlatformTenant.
const (
	LabelAlertname = "alertname"
	LabelTenant    = "tenant"
	LabelRuleID    = "rule_id"
	LabelSeverity  = "severity"
	// PlatformTenant is the tenant label of the deployment's own alerts
	// (disk, backups, ingest): no tenant may have this id.
	PlatformTenant = "platform"
)

// RuleSeverities are the severities a detection rule may have (the first
// is the default), as Prometheus's own alerts use them.
var RuleSeverities = []string{"warning", "critical", "info"}

// PrometheusAlerting is the alerting section of Prometheus's
// configuration: every alert it fires goes to each of the Alertmanagers
// at targets (host:port, all of a cluster's members: Alertmanager's way,
// not through a load balancer), labelled tenant PlatformTenant so routes
// tell the deployment's own alerts from the tenants' detections.
func PrometheusAlerting(targets []string) map[string]any {
	list := make([]any, len(targets))
	for i, t := range targets {
		list[i] = t
	}
	return map[string]any{
		"alert_relabel_configs": []any{map[string]any{"target_label": LabelTenant, "replacement": PlatformTenant}},
		"alertmanagers":         []any{map[string]any{"api_version": "v2", "static_configs": []any{map[string]any{"targets": list}}}},
	}
}
