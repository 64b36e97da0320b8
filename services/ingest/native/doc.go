// Package native is the ingest service's Vector-native port (6000): the
// gRPC service vector.Vector (PushEvents, HealthCheck) that a Vector
// aggregator's `vector` sink speaks, over mutual TLS with client
// certificates. PushEvents answers after ClickHouse committed the events,
// which is the sink's acknowledgement.
package native
