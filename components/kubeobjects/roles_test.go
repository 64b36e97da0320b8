package kubeobjects

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
)

// Each service mounts its own logins and no other's: ingest and search
// their PostgreSQL role's and ClickHouse user's Secrets (never the
// owner's), the api the owner's (and grants the roles), web none; each
// names its ClickHouse user.
func TestEachServiceMountsOnlyItsOwnLogins(t *testing.T) {
	t.Parallel()
	logins := []string{SecretClickHouse, SecretPostgresManaged, cnpgName + "-app", SecretPostgresIngest, SecretPostgresSearch,
		SecretClickHouseIngest, SecretClickHouseSearch}
	for _, name := range kubeTiers {
		s := specFor(t, name)
		owner := cnpgName + "-app"
		if s.Tier.Postgres.Managed {
			owner = SecretPostgresManaged
		}
		want := map[string][]string{
			"api":    {SecretClickHouse, owner},
			"ingest": {SecretClickHouseIngest, SecretPostgresIngest},
			"search": {SecretClickHouseSearch, SecretPostgresSearch},
			"web":    nil,
		}
		chUser := map[string]string{"ingest": contract.IngestDBUser, "search": contract.SearchDBUser}
		objs := objects(t, s)
		for svc, secrets := range want {
			d := find(t, objs, "Deployment", svc)
			var mounted []string
			for _, v := range get(t, d, "spec", "template", "spec", "volumes").([]any) {
				if sec, ok := v.(map[string]any)["secret"].(map[string]any); ok && slices.Contains(logins, sec["secretName"].(string)) {
					mounted = append(mounted, sec["secretName"].(string))
				}
			}
			slices.Sort(mounted)
			if !slices.Equal(mounted, secrets) {
				t.Errorf("%s: %s mounts logins %v, want %v", name, svc, mounted, secrets)
			}
			env := map[string]map[string]any{}
			for _, e := range get(t, d, "spec", "template", "spec", "containers", 0, "env").([]any) {
				m := e.(map[string]any)
				env[m["name"].(string)] = m
			}
			switch svc {
			case "api":
				ref := get(t, env[contract.ClickHouseUser], "valueFrom", "secretKeyRef").(map[string]any)
				if ref["name"] != SecretClickHouse || ref["key"] != "username" {
					t.Errorf("%s: the api's ClickHouse user is not its Secret's: %v", name, env[contract.ClickHouseUser])
				}
				if env[contract.PostgresIngestRole]["value"] != contract.IngestDBUser || env[contract.PostgresSearchRole]["value"] != contract.SearchDBUser {
					t.Errorf("%s: the api does not grant the service roles: %v %v", name, env[contract.PostgresIngestRole], env[contract.PostgresSearchRole])
				}
			case "ingest", "search":
				if env[contract.ClickHouseUser]["value"] != chUser[svc] {
					t.Errorf("%s: %s's ClickHouse user %v", name, svc, env[contract.ClickHouseUser])
				}
			}
		}
	}
}

// The in-cluster databases declare the roles and users: CloudNativePG
// managed roles that may only log in, with their basic-auth Secrets; the
// installation's users with events.ServiceUsers' grants and profiles.
func TestDatabasesDeclareTheServiceLogins(t *testing.T) {
	t.Parallel()
	objs := objects(t, specFor(t, "team"))
	roles := get(t, find(t, objs, "Cluster", cnpgName), "spec", "managed", "roles").([]any)
	if len(roles) != 2 {
		t.Fatalf("managed roles %v", roles)
	}
	for i, l := range []serviceLogin{ingestLogin, searchLogin} {
		r := roles[i].(map[string]any)
		if r["name"] != l.role || r["login"] != true || r["superuser"] != false || r["createrole"] != false || r["createdb"] != false ||
			r["replication"] != false || r["bypassrls"] != false || get(t, r, "passwordSecret", "name") != l.postgresSecret {
			t.Errorf("managed role %v", r)
		}
	}
	conf := get(t, find(t, objs, "ClickHouseInstallation", chiName), "spec", "configuration").(map[string]any)
	users, profiles := conf["users"].(map[string]any), conf["profiles"].(map[string]any)
	for _, u := range (events.Engine{Database: "nano", Cluster: chiCluster}).ServiceUsers() {
		var grants []string
		for _, g := range users[u.Name+"/grants/query"].([]any) {
			grants = append(grants, g.(string))
		}
		if !slices.Equal(grants, u.Grants) || users[u.Name+"/profile"] != u.Name ||
			!strings.HasSuffix(users[u.Name+"/k8s_secret_password"].(string), "/nano-clickhouse-"+strings.TrimPrefix(u.Name, "nano_")+"/password") {
			t.Errorf("user %s: %v", u.Name, users)
		}
		for _, kv := range u.Profile {
			if got := profiles[u.Name+"/"+kv[0]]; fmt.Sprint(got) != kv[1] {
				t.Errorf("profile %s: %s = %v, want %s", u.Name, kv[0], got, kv[1])
			}
		}
	}
	if got := users["nano/profile"]; got != "default" {
		t.Errorf("the api's user nano has profile %v", got)
	}
}

func TestPostgresRoleURIs(t *testing.T) {
	t.Parallel()
	if got := InClusterPostgresURI("nano_ingest", "pw0123456789"); got != "postgresql://nano_ingest:pw0123456789@nano-pg-rw.nano:5432/nano" {
		t.Errorf("in-cluster URI %s", got)
	}
	got, err := PostgresRoleURI("postgres://nano:owner-secret@db.internal:6432/nano?sslmode=verify-full", "nano_search", "pw/with?chars")
	if err != nil || got != "postgres://nano_search:pw%2Fwith%3Fchars@db.internal:6432/nano?sslmode=verify-full" {
		t.Errorf("managed URI %s %v", got, err)
	}
	for _, bad := range []string{"", "db.internal:5432", "mysql://x@y/z", "postgres:///nano"} {
		if _, err := PostgresRoleURI(bad, "r", "p"); err == nil || strings.Contains(err.Error(), "owner-secret") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
