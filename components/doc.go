// Package components holds nano's Pulumi ComponentResources, one per file,
// each named after its type: ComposeHost (Hobby, Startup),
// SinglePoolCluster (Growth), HACluster (Team, Business), MultiPoolCluster
// (Pro), ManagedEnterprise (Enterprise) and Platform (the Kubernetes
// platform every cluster tier installs). What several of them share: the
// cloud clusters' builders (aws.go, gcp.go, civo.go, vultr.go, and the
// managed databases in awsmanaged.go, gcpmanaged.go), clouddeployment.go
// (a cluster with the platform on it), hetznerhost.go, the warm bucket, the
// endpoints and ingest credentials, and helpers.go. Their sizes come from
// the tier catalog (stacks/model/tier) through validated settings
// (stacks/model/settings); the text and objects they deploy come from pure
// builders in the sub-packages composefiles, k3s, kubeconfig and
// kubeobjects.
package components
