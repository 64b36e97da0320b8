// Package provision is nano's provisioning endpoint: an HTTP service that
// creates, previews, updates, refreshes and destroys nano deployments by
// running the same program function as `pulumi up`, inline through the
// Pulumi Automation API. One operation runs per deployment at a time (a
// second mutating request gets 409 and the running operation's id);
// operations on different deployments run concurrently up to a limit.
// Deployments, operations and their engine events persist in the data
// directory, so a restart shows what ran; an operation interrupted by a
// crash is marked failed and its stack is repaired (stale locks and
// pending operations cleared) before the next operation on it.
package provision
