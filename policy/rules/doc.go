// Package rules is nano's policy pack: every rule once, with its id,
// description, enforcement level and remediation. The analyzer plugin
// (package policy's main) serves them to the Pulumi CLI; the CI gate
// evaluates every stack with them through the same analyzer interface.
package rules
