// Package platform builds the Kubernetes objects of nano's platform, the same
// on every Kubernetes tier: the ClickHouse cluster (Altinity operator) and its
// Keeper, PostgreSQL (CloudNativePG), the api, search and ingest workloads,
// Prometheus, and the namespace's isolation (default-deny NetworkPolicies,
// no service account tokens, Pod Security "restricted").
//
// The builders are pure: a Spec in, objects out (golden files in testdata/).
// The Platform component registers them on a cluster; the tests validate
// them with upstream code (CRD schemas, strict decoding, Pod Security).
// Every size comes from the tier catalog through Spec.Tier.
package kubeobjects
