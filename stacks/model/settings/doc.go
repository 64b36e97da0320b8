// Package settings turns a stack's `nano:*` configuration into validated,
// typed deployment settings: the tier's catalog entry with the stack's
// overrides applied, the provider, region, images and access rules.
//
// The program, `go run . plan` and the provisioning endpoint all load config
// through Load, so every entry point rejects the same bad values with the same
// messages, each naming its key and what is allowed.
package settings
