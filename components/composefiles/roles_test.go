package composefiles

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/stacks/model/tier"
	"github.com/nanosiem/nano/tests/harness"
)

var pg *harness.Postgres

func TestMain(m *testing.M) { harness.MainWithPostgres(m, &pg) }

// Each service gets its own logins and no other's: its secrets directory
// (mounted read-only, nothing else of another service's), its
// ClickHouse user, file variables instead of values in its environment;
// the api grants ingest's and search's roles; every service waits for the
// roles.
func TestEachServiceSeesOnlyItsOwnLogins(t *testing.T) {
	t.Parallel()
	p := params(t, tier.Startup, "")
	p.Backup = &Backup{PostgresURL: "https://fsn1.your-objectstorage.com/b/startup-hetzner/postgres-backups/", Region: "fsn1"}
	s := testSecrets
	s.BackupAccessKeyID, s.BackupSecretAccessKey = "AKIDTEST", "c2VjcmV0VEVTVA"
	proj := loadComposeWith(t, p, s)
	chUser := map[string]string{"api": dbUser, "ingest": contract.IngestDBUser, "search": contract.SearchDBUser}
	for _, svc := range []string{"api", "ingest", "search", "postgres-exporter"} {
		sc := proj.Services[svc]
		var secretMounts []string
		for _, v := range sc.Volumes {
			if strings.Contains(v.Source, "/"+secretsDir+"/") || v.Target == secretsMount {
				secretMounts = append(secretMounts, v.Source+":"+v.Target)
				if !v.ReadOnly || !strings.HasSuffix(v.Source, "/"+secretsDir+"/"+svc) || v.Target != secretsMount {
					t.Errorf("%s mounts %s:%s (read-only %v): only its own directory, read-only", svc, v.Source, v.Target, v.ReadOnly)
				}
			}
		}
		if len(secretMounts) != 1 {
			t.Errorf("%s mounts secrets %v, want its own directory once", svc, secretMounts)
		}
		for k, v := range sc.Environment {
			if v == nil {
				continue
			}
			for _, pw := range []string{s.PostgresPassword, s.ClickHousePassword, s.APIPostgresPassword, s.IngestPostgresPassword, s.SearchPostgresPassword,
				s.MonitorPostgresPassword, s.IngestClickHousePassword, s.SearchClickHousePassword} {
				if strings.Contains(*v, pw) {
					t.Errorf("%s's environment holds a database password in %s", svc, k)
				}
			}
		}
		if svc == "postgres-exporter" {
			continue
		}
		if v := sc.Environment[contract.ClickHouseUser]; v == nil || *v != chUser[svc] {
			t.Errorf("%s's ClickHouse user %v, want %s", svc, v, chUser[svc])
		}
		if d, ok := sc.DependsOn["postgres-roles"]; !ok || d.Condition != "service_completed_successfully" {
			t.Errorf("%s does not wait for the roles: %+v", svc, sc.DependsOn)
		}
	}
	api := proj.Services["api"]
	if v := api.Environment[contract.PostgresIngestRole]; v == nil || *v != contract.IngestDBUser {
		t.Errorf("the api grants no ingest role: %v", v)
	}
	if v := api.Environment[contract.PostgresSearchRole]; v == nil || *v != contract.SearchDBUser {
		t.Errorf("the api grants no search role: %v", v)
	}
	roles := proj.Services["postgres-roles"]
	if v := roles.Environment["NANO_INGEST_PASSWORD"]; v == nil || *v != s.IngestPostgresPassword {
		t.Errorf("the roles service does not get ingest's password from .env: %v", v)
	}
	if u := roles.User; u != "999:999" || !roles.ReadOnly {
		t.Errorf("the roles service runs as %q, read-only %v", u, roles.ReadOnly)
	}

	files, err := ServiceSecrets(p, s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"api/" + secretPGURL:                "postgres://nano_api:" + s.APIPostgresPassword + "@postgres:5432/nano?sslmode=disable",
		"api/" + secretCHPass:               s.ClickHousePassword,
		"ingest/" + secretPGURL:             "postgres://nano_ingest:" + s.IngestPostgresPassword + "@postgres:5432/nano?sslmode=disable",
		"ingest/" + secretCHPass:            s.IngestClickHousePassword,
		"search/" + secretPGURL:             "postgres://nano_search:" + s.SearchPostgresPassword + "@postgres:5432/nano?sslmode=disable",
		"search/" + secretCHPass:            s.SearchClickHousePassword,
		"postgres-exporter/" + secretPGPass: s.MonitorPostgresPassword,
	}
	for _, f := range files {
		rel := strings.TrimPrefix(f.Path, secretsDir+"/")
		if want[rel] != f.Content {
			t.Errorf("%s holds %q, want %q", f.Path, f.Content, want[rel])
		}
		delete(want, rel)
		wantUID := map[string]int{"api": postgresUID, "postgres-exporter": nobodyUID}[strings.Split(rel, "/")[0]]
		if wantUID == 0 {
			wantUID = 65532
		}
		if f.UID != wantUID {
			t.Errorf("%s belongs to %d, want the service's uid %d", f.Path, f.UID, wantUID)
		}
	}
	if len(want) > 0 {
		t.Errorf("no secret files %v", want)
	}

	// cloud-init writes them 0400 and hands each to its service's uid.
	ud, err := CloudInit(p, s)
	if err != nil {
		t.Fatal(err)
	}
	var cfg cloudConfig
	if err := yaml.Unmarshal(ud[len("#cloud-config\n"):], &cfg); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := ProjectDir + "/" + f.Path
		i := slices.IndexFunc(cfg.WriteFiles, func(w writeFile) bool { return w.Path == path })
		if i < 0 || cfg.WriteFiles[i].Permissions != "0400" || cfg.WriteFiles[i].Content != f.Content {
			t.Errorf("cloud-init does not write %s with mode 0400", path)
		}
		chown := []string{"chown", strconv.Itoa(f.UID) + ":" + strconv.Itoa(f.UID), path}
		if !slices.ContainsFunc(cfg.Runcmd, func(c []string) bool { return slices.Equal(c, chown) }) {
			t.Errorf("cloud-init does not run %v", chown)
		}
	}
	if _, err := ServiceSecrets(p, Secrets{}); err == nil {
		t.Error("empty passwords were accepted")
	}
	bad := s
	bad.IngestPostgresPassword = "short"
	if _, err := CloudInit(p, bad); err == nil || !strings.Contains(err.Error(), "ingest PostgreSQL") {
		t.Errorf("a short password: %v", err)
	}
}

// psql runs the roles script on pg's database nano as the superuser, with
// the passwords in env, as the postgres-roles service does.
func psql(t *testing.T, script []byte, env map[string]string) (string, error) {
	harness.Servers(t)
	t.Helper()
	path := filepath.Join(t.TempDir(), "roles.sql")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(harness.PostgresBinDir, "psql"), "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-f", path)
	cmd.Env = append(os.Environ(), "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(pg.Port), "PGDATABASE=nano", "PGUSER=postgres")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The roles script on a real PostgreSQL 15 with Debian's psql, on a
// database as an older Compose host left it (every table the
// superuser's): it creates the roles, hands the database and its objects
// to nano_api, keeps other roles out; it runs again unchanged, takes new
// passwords, and refuses to run without them. Then the api, as nano_api,
// migrates and grants ingest and search their rights.
func TestRolesScriptOnPostgres(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	superURL, err := pg.CreateDatabase(ctx, "nano")
	if err != nil {
		t.Fatal(err)
	}
	super, err := pgxpool.New(ctx, superURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close()
	// The host before: the services logged in as the superuser, which
	// made the schema.
	if err := metadb.Migrate(ctx, super); err != nil {
		t.Fatal(err)
	}
	if _, err := super.Exec(ctx, `CREATE ROLE outsider LOGIN`); err != nil {
		t.Fatal(err)
	}
	script, err := PostgresRoles(params(t, tier.Startup, ""))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NANO_API_PASSWORD": "apiPassword0123456789", "NANO_INGEST_PASSWORD": "ingestPassword0123456789",
		"NANO_SEARCH_PASSWORD": "searchPassword0123456789", "NANO_MONITOR_PASSWORD": "monitorPassword0123456789"}
	missing := map[string]string{}
	for k, v := range env {
		if k != "NANO_SEARCH_PASSWORD" {
			missing[k] = v
		}
	}
	if out, err := psql(t, script, missing); err == nil || !strings.Contains(out, "NANO_SEARCH_PASSWORD is not set") {
		t.Errorf("the script without a password: %v\n%s", err, out)
	}
	missing["NANO_SEARCH_PASSWORD"] = ""
	if out, err := psql(t, script, missing); err == nil || !strings.Contains(out, "NANO_SEARCH_PASSWORD is not set") {
		t.Errorf("the script with an empty password: %v\n%s", err, out)
	}
	var roles int
	if err := super.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname LIKE 'nano\_%'`).Scan(&roles); err != nil || roles != 0 {
		t.Errorf("the refused runs left %d roles (%v)", roles, err)
	}
	for i := 0; i < 2; i++ {
		if out, err := psql(t, script, env); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
	}
	var verifier string
	if err := super.QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = 'nano_ingest'`).Scan(&verifier); err != nil || !strings.HasPrefix(verifier, "SCRAM-SHA-256$") {
		t.Fatalf("nano_ingest's password: %q %v", verifier, err)
	}
	env["NANO_INGEST_PASSWORD"] = "rotatedPassword0123456789"
	if out, err := psql(t, script, env); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rotated string
	if err := super.QueryRow(ctx, `SELECT rolpassword FROM pg_authid WHERE rolname = 'nano_ingest'`).Scan(&rotated); err != nil || rotated == verifier {
		t.Errorf("a new password did not reach the role: %v", err)
	}

	var attrs []string
	rows, err := super.Query(ctx, `SELECT rolname || ' super=' || rolsuper || ' createrole=' || rolcreaterole || ' createdb=' || rolcreatedb ||
  ' login=' || rolcanlogin || ' replication=' || rolreplication || ' bypassrls=' || rolbypassrls FROM pg_roles WHERE rolname LIKE 'nano_%' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		attrs = append(attrs, a)
	}
	rows.Close()
	if want := []string{
		"nano_api super=false createrole=false createdb=false login=true replication=false bypassrls=false",
		"nano_ingest super=false createrole=false createdb=false login=true replication=false bypassrls=false",
		"nano_monitor super=false createrole=false createdb=false login=true replication=false bypassrls=false",
		"nano_search super=false createrole=false createdb=false login=true replication=false bypassrls=false",
	}; !slices.Equal(attrs, want) {
		t.Errorf("roles:\n%s\nwant:\n%s", strings.Join(attrs, "\n"), strings.Join(want, "\n"))
	}
	var notOwned int
	if err := super.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'i') AND pg_get_userbyid(c.relowner) <> 'nano_api'`).Scan(&notOwned); err != nil || notOwned != 0 {
		t.Errorf("%d tables, sequences or indexes are not nano_api's (%v)", notOwned, err)
	}
	as := func(role string) *pgxpool.Pool {
		u, _ := url.Parse(superURL)
		u.User = url.User(role)
		db, err := pgxpool.New(ctx, u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}
	if err := as("outsider").Ping(ctx); err == nil || !strings.Contains(err.Error(), "permission denied for database") {
		t.Errorf("a role that is none of nano's connects to the database: %v", err)
	}
	if err := as("nano_monitor").QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity`).Scan(new(int)); err != nil {
		t.Errorf("the exporter's role reads the statistics: %v", err)
	}
	api := as("nano_api")
	if err := metadb.MigrateFor(ctx, api, metadb.Roles{Ingest: contract.IngestDBUser, Search: contract.SearchDBUser}); err != nil {
		t.Fatalf("the api migrates as nano_api: %v", err)
	}
	if err := metadb.Ready(ctx, as(contract.IngestDBUser)); err != nil {
		t.Errorf("ingest after the api's grants: %v", err)
	}
	if _, err := as(contract.SearchDBUser).Exec(ctx, `INSERT INTO api_tokens (tenant, name, hash, scopes) VALUES ('x', 'x', '\x00', '{}')`); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("search writes api_tokens: %v", err)
	}

	withBackups := params(t, tier.Startup, "")
	withBackups.Backup = &Backup{PostgresURL: "https://s3.example/b/x/postgres-backups/", Region: "fsn1"}
	script, err = PostgresRoles(withBackups)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := psql(t, script, env); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var replication bool
	if err := super.QueryRow(ctx, `SELECT rolreplication FROM pg_roles WHERE rolname = 'nano_api'`).Scan(&replication); err != nil || !replication {
		t.Errorf("with PostgreSQL backups the api's role may not stream base backups: %v", err)
	}
}
