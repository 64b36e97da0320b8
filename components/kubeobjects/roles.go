package kubeobjects

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
)

// The services' database logins on Kubernetes (docs/security/database-roles.md):
//
//   - PostgreSQL: the api logs in as the database's owner (CloudNativePG's
//     application user nano, or the managed database's user), runs the
//     migrations and grants ingest's and search's roles their rights.
//     Those roles are CloudNativePG managed roles (postgresRoles) whose
//     passwords are the Platform's Secrets; on Cloud SQL / RDS the
//     operator creates them with those passwords (the docs' SQL).
//   - ClickHouse: the api is the installation's user nano (ClickHouse
//     Cloud: the configured user); ingest and search are users of the
//     ClickHouseInstallation (clickhouseUsers) from events.ServiceUsers,
//     or on ClickHouse Cloud users the operator creates.
//   - Each service mounts only its own Secrets.

// serviceLogin is a service's pair of Secrets.
type serviceLogin struct {
	role, postgresSecret, clickhouseSecret string
}

var (
	ingestLogin = serviceLogin{contract.IngestDBUser, SecretPostgresIngest, SecretClickHouseIngest}
	searchLogin = serviceLogin{contract.SearchDBUser, SecretPostgresSearch, SecretClickHouseSearch}
)

// postgresRoles are the Cluster's managed roles: login roles with nothing
// else (no superuser, no CREATEDB, no CREATEROLE, no replication), their
// passwords from their basic-auth Secrets.
func postgresRoles() []any {
	var roles []any
	for _, l := range []serviceLogin{ingestLogin, searchLogin} {
		roles = append(roles, map[string]any{
			"name": l.role, "ensure": "present", "login": true, "inherit": true,
			"superuser": false, "createdb": false, "createrole": false, "replication": false, "bypassrls": false,
			"passwordSecret": map[string]any{"name": l.postgresSecret},
			"comment":        "nano " + l.role + ": the api grants its rights (docs/security/database-roles.md)",
		})
	}
	return roles
}

// clickhouseUsers adds ingest's and search's users and profiles to an
// installation's configuration: events.ServiceUsers for the cluster's
// layout, each password from its Secret.
func (s Spec) clickhouseUsers(users, profiles map[string]any) {
	logins := map[string]string{ingestLogin.role: ingestLogin.clickhouseSecret, searchLogin.role: searchLogin.clickhouseSecret}
	for _, u := range (events.Engine{Database: "nano", Cluster: chiCluster}).ServiceUsers() {
		users[u.Name+"/k8s_secret_password"] = Namespace + "/" + logins[u.Name] + "/password"
		users[u.Name+"/networks/ip"] = []any{"0.0.0.0/0", "::/0"} // NetworkPolicies decide who connects
		users[u.Name+"/profile"] = u.Name
		grants := make([]any, len(u.Grants))
		for i, g := range u.Grants {
			grants[i] = g
		}
		users[u.Name+"/grants/query"] = grants
		profiles[u.Name+"/profile"] = "default"
		for _, kv := range u.Profile {
			n, err := strconv.Atoi(kv[1])
			if err != nil {
				profiles[u.Name+"/"+kv[0]] = kv[1]
				continue
			}
			profiles[u.Name+"/"+kv[0]] = n
		}
	}
}

// InClusterPostgresURI is role's libpq URI of the CloudNativePG cluster's
// read-write Service (as CloudNativePG writes its application user's).
func InClusterPostgresURI(role, password string) string {
	u := url.URL{Scheme: "postgresql", User: url.UserPassword(role, password),
		Host: cnpgName + "-rw." + Namespace + ":" + strconv.Itoa(pgPort), Path: "/nano"}
	return u.String()
}

// PostgresRoleURI is the managed database's URI base (the owner's) with
// role and password in place of its user: same host, database and
// parameters (sslmode).
func PostgresRoleURI(base, role, password string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", fmt.Errorf("the PostgreSQL URI is not postgres://user:password@host:port/database")
	}
	u.User = url.UserPassword(role, password)
	return u.String(), nil
}
