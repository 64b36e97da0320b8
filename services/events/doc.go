// Package events is nano's event model and its ClickHouse schema, shared by
// ingest (writes), search (reads) and api (detections, retention).
//
// The DDL lives here only, versioned (migrations.go). The columns are the
// same on every engine and topology, so a deployment can move from the
// single-node tier to a replicated one by copying rows; features that old
// servers lack (codecs, LowCardinality, skip indexes, TTL, storage
// policies, insert deduplication tokens) are added where the server has
// them.
package events
