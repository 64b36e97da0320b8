package events

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/chdb"
	"github.com/nanosiem/nano/tests/harness"
)

// The service users' passwords in these tests.
var servicePasswords = map[string]string{
	contract.IngestDBUser: "ingest-password-0123456789",
	contract.SearchDBUser: "search-password-0123456789",
}

// chAttack is a statement a compromised service could send ({db} is the
// database).
type chAttack struct{ what, sql string }

var (
	// What a compromised search tries: it holds a read-only login.
	searchCHAttacks = []chAttack{
		{"insert forged events", "INSERT INTO {db}.events (tenant, message) SELECT 'acme', 'forged'"},
		{"delete events", "ALTER TABLE {db}.events DELETE WHERE 1"},
		{"drop events", "DROP TABLE {db}.events"},
		{"truncate events", "TRUNCATE TABLE {db}.events"},
		{"drop the raw records", "ALTER TABLE {db}.events DROP COLUMN raw"},
		{"create a table", "CREATE TABLE {db}.evil (x UInt8) ENGINE = Memory"},
		{"lift readonly", "SELECT 1 SETTINGS readonly = 0"},
	}
	// What a compromised ingest tries: it may insert events, nothing that
	// changes the schema or removes data.
	ingestCHAttacks = []chAttack{
		{"drop events", "DROP TABLE {db}.events"},
		{"truncate events", "TRUNCATE TABLE {db}.events"},
		{"delete events", "ALTER TABLE {db}.events DELETE WHERE 1"},
		{"drop the raw records", "ALTER TABLE {db}.events DROP COLUMN raw"},
		{"drop a day", "ALTER TABLE {db}.events DROP PARTITION 20260101"},
		{"rename events", "RENAME TABLE {db}.events TO {db}.gone"},
		{"create a table", "CREATE TABLE {db}.evil (x UInt8) ENGINE = Memory"},
		{"drop the database", "DROP DATABASE {db}"},
	}
)

// chAllowed runs each attack on conn and returns those the server let
// through; any other failure than a refusal (readonly, DDL prohibited,
// access denied) fails the test.
func chAllowed(t *testing.T, ctx context.Context, conn driver.Conn, db string, attacks []chAttack) []string {
	t.Helper()
	var through []string
	for _, a := range attacks {
		err := conn.Exec(ctx, strings.ReplaceAll(a.sql, "{db}", db))
		var ex *clickhouse.Exception
		switch {
		case err == nil:
			through = append(through, a.what)
		case errors.As(err, &ex) && (ex.Code == 164 || ex.Code == 392 || ex.Code == 497): // READONLY, QUERY_IS_PROHIBITED, ACCESS_DENIED
		default:
			t.Errorf("%s: not a refusal: %v", a.what, err)
		}
	}
	return through
}

// The service users as a Compose host declares them (UsersXML in users.d),
// on the harness's ClickHouse 18.16: search reads but cannot insert, alter,
// drop, create or lift readonly; ingest inserts events through the writer's
// block but cannot alter, drop, truncate, rename or create. The control:
// the owner's login (what every service used before) runs every one of
// those statements on a copy of the schema, so the check can fail.
func TestServiceUsersHoldOnlyTheirRights(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	users, err := UsersXML(Engine{Database: "nano"}.ServiceUsers(), servicePasswords)
	if err != nil {
		t.Fatal(err)
	}
	server, err := harness.StartClickHouseWith(harness.ClickHouseOptions{UsersD: map[string][]byte{"nano-services.xml": users}})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	owner, err := server.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	version, err := DetectVersion(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	e := Engine{Version: version, Database: "nano", RetentionDays: 90}
	if err := Migrate(ctx, owner, e); err != nil {
		t.Fatal(err)
	}
	as := func(user string) driver.Conn {
		conn, err := server.OpenAs(user, servicePasswords[user])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	ingest, search := as(contract.IngestDBUser), as(contract.SearchDBUser)

	t.Run("a wrong password is refused", func(t *testing.T) {
		conn, err := server.OpenAs(contract.SearchDBUser, "not-the-password")
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close()
		}
		if err == nil {
			t.Error("nano_search logged in with a wrong password")
		}
	})
	t.Run("ingest inserts", func(t *testing.T) {
		if err := Ready(ctx, ingest, e); err != nil {
			t.Fatalf("ingest does not see the events table: %v", err)
		}
		evs := blockEvents(10)
		var b Block
		for i := range evs {
			b.Add(&evs[i])
		}
		batch, err := ingest.PrepareBatch(ctx, InsertSQL(e.InsertTable()))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AppendTo(batch); err != nil {
			t.Fatal(err)
		}
		if err := batch.Send(); err != nil {
			t.Fatalf("ingest's insert: %v", err)
		}
	})
	t.Run("search reads with its limits", func(t *testing.T) {
		var n uint64
		ctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": 30, "max_rows_to_read": 1000000}))
		if err := search.QueryRow(ctx, "SELECT count() FROM nano.events").Scan(&n); err != nil || n != 10 {
			t.Fatalf("search's read: %d %v", n, err)
		}
	})
	t.Run("a compromised search", func(t *testing.T) {
		if through := chAllowed(t, ctx, search, "nano", searchCHAttacks); len(through) > 0 {
			t.Errorf("search's user may: %s", strings.Join(through, "; "))
		}
	})
	t.Run("a compromised ingest", func(t *testing.T) {
		if through := chAllowed(t, ctx, ingest, "nano", ingestCHAttacks); len(through) > 0 {
			t.Errorf("ingest's user may: %s", strings.Join(through, "; "))
		}
	})
	var n uint64
	if err := owner.QueryRow(ctx, "SELECT count() FROM nano.events").Scan(&n); err != nil || n != 10 {
		t.Errorf("after the attacks the events table holds %d events (%v), want the 10 ingest inserted", n, err)
	}
	t.Run("control: the shared owner login", func(t *testing.T) {
		// Each attack on a fresh copy of the schema (they destroy it).
		for _, attacks := range [][]chAttack{searchCHAttacks, ingestCHAttacks} {
			through := 0
			for _, a := range attacks {
				if err := owner.Exec(ctx, "DROP DATABASE IF EXISTS nano_control"); err != nil {
					t.Fatal(err)
				}
				if err := Migrate(ctx, owner, Engine{Version: version, Database: "nano_control", RetentionDays: 90}); err != nil {
					t.Fatal(err)
				}
				through += len(chAllowed(t, ctx, owner, "nano_control", []chAttack{a}))
			}
			if through != len(attacks) {
				t.Errorf("the owner was refused some attacks (%d of %d through): the list does not show what the users take away", through, len(attacks))
			}
		}
	})
}

// The same users file on the modern engine (ClickHouse 26.7 in-process,
// which has SQL access control; the tiers run 25.8): ingest's rights are
// exactly INSERT on the events table, search's SELECT on nano's database,
// and their profiles hold allow_ddl 0 and readonly 2. On a cluster ingest
// also inserts into the shards' local table a Distributed insert writes on
// its own host.
func TestServiceUsersOnModernEngine(t *testing.T) {
	harness.Servers(t)
	for _, e := range []Engine{{Database: "nano"}, {Database: "nano", Cluster: "nano"}} {
		users, err := UsersXML(e.ServiceUsers(), servicePasswords)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for name, content := range map[string]string{
			"config.xml":                `<clickhouse><user_directories><users_xml><path>users.xml</path></users_xml></user_directories></clickhouse>`,
			"users.xml":                 `<clickhouse><profiles><default/></profiles><users><default><password/><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota><access_management>1</access_management></default></users><quotas><default/></quotas></clickhouse>`,
			"users.d/nano-services.xml": string(users),
		} {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		db, err := chdb.OpenWith(filepath.Join(dir, "data"), "--config-file="+filepath.Join(dir, "config.xml"))
		if err != nil {
			t.Fatal(err)
		}
		query := func(sql string) string {
			t.Helper()
			out, err := db.Query(sql, "TSV")
			if err != nil {
				t.Fatalf("%v\n%s", err, sql)
			}
			return strings.TrimSpace(out)
		}
		want := map[string]string{
			contract.IngestDBUser: "GRANT INSERT ON nano.events TO nano_ingest",
			contract.SearchDBUser: "GRANT SELECT ON nano.* TO nano_search",
		}
		if e.Replicated() {
			want[contract.IngestDBUser] = "GRANT REMOTE ON *.* TO nano_ingest\nGRANT INSERT ON nano.events_ingest TO nano_ingest\nGRANT INSERT ON nano.events_local TO nano_ingest"
		}
		for user, grants := range want {
			if got := query("SHOW GRANTS FOR " + user); got != grants {
				t.Errorf("cluster %q: %s's grants:\n%s\nwant:\n%s", e.Cluster, user, got, grants)
			}
		}
		settings := query("SELECT profile_name, setting_name, value FROM system.settings_profile_elements WHERE profile_name LIKE 'nano_%' AND setting_name != '' ORDER BY profile_name")
		if settings != "nano_ingest\tallow_ddl\t0\nnano_search\treadonly\t2" {
			t.Errorf("cluster %q: the profiles' settings:\n%s", e.Cluster, settings)
		}
		if got := query("SELECT name, auth_type FROM system.users WHERE name LIKE 'nano_%' ORDER BY name"); got != "nano_ingest\t['sha256_password']\nnano_search\t['sha256_password']" {
			t.Errorf("cluster %q: users %s", e.Cluster, got)
		}
		db.Close()
	}
}

// The users file refuses a user without a password or with a name that is
// not an identifier, and holds the passwords only as SHA-256.
func TestUsersXMLRefusesAndHashes(t *testing.T) {
	us := Engine{Database: "nano"}.ServiceUsers()
	if _, err := UsersXML(us, map[string]string{contract.IngestDBUser: servicePasswords[contract.IngestDBUser]}); err == nil || !strings.Contains(err.Error(), "nano_search") {
		t.Errorf("a user without a password: %v", err)
	}
	if _, err := UsersXML([]ServiceUser{{Name: "x><admin"}}, map[string]string{"x><admin": strings.Repeat("p", 20)}); err == nil {
		t.Error("a user name with markup was accepted")
	}
	b, err := UsersXML(us, servicePasswords)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range servicePasswords {
		if strings.Contains(string(b), pw) {
			t.Errorf("the users file holds a password in clear:\n%s", b)
		}
	}
	golden(t, "users.xml", string(b))
}

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("%s differs; review and run go test ./services/events -update\n%s", path, got)
	}
}
