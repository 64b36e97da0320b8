package authtoken

import "slices"

// Roles of a person in a tenant (docs/security/sign-in.md). The identity
// provider's groups give them at sign-in; each is a set of the same scopes
// API tokens carry, so one model decides what a token and a person may do.
const (
	RoleViewer  = "viewer"  // search and read
	RoleAnalyst = "analyst" // + triage alerts, saved searches, rules, dashboards
	RoleAdmin   = "admin"   // + feeds, tokens, users, sessions, credentials, datasets, the audit trail
)

// Roles are the roles, weakest first.
var Roles = []string{RoleViewer, RoleAnalyst, RoleAdmin}

// RoleScopes are the scopes each role holds. The platform scope is no
// person's: it is the deployment operator's token alone.
var RoleScopes = map[string][]string{
	RoleViewer:  {ScopeSearch, ScopeRead},
	RoleAnalyst: {ScopeSearch, ScopeRead, ScopeWrite, ScopeAlerts},
	RoleAdmin:   {ScopeSearch, ScopeRead, ScopeWrite, ScopeAlerts, ScopeAdmin},
}

// RoleRank orders roles (viewer 1, analyst 2, admin 3; 0 is no role).
func RoleRank(role string) int { return slices.Index(Roles, role) + 1 }
