// Package hec is the ingest service's Splunk HTTP Event Collector port
// (8088), compatible with Splunk forwarders and Vector's splunk_hec sinks:
// /services/collector/event (and /services/collector), /raw, /health and
// /ack, "Authorization: Splunk <token>", Splunk's response bodies and codes.
//
// Indexer acknowledgement: a request with a channel (X-Splunk-Request-Channel
// header or ?channel=) is answered at once with an ackId, and
// /services/collector/ack reports the id true only after ClickHouse
// committed its events. A request without a channel is answered after the
// commit.
package hec
