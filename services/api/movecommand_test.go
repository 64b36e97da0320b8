package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// "api move-from" in a new deployment's api copies an old deployment's
// events and metadata into its own databases: every event, verified; the
// old tokens verify; a second run copies nothing; usage errors and the
// deployment's own database as the source exit 2.
func TestMoveFromCommand(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	version, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := events.Engine{Version: version, Database: "move_src"}, events.Engine{Version: version, Database: "move_dst"}
	for _, e := range []events.Engine{src, dst} {
		if err := events.Migrate(ctx, conn, e); err != nil {
			t.Fatal(err)
		}
	}
	b, err := conn.PrepareBatch(clickhouse.Context(ctx, clickhouse.WithSettings(src.InsertSettings(""))), events.InsertSQL(src.InsertTable()))
	if err != nil {
		t.Fatal(err)
	}
	var block events.Block
	at := time.Date(2026, 11, 30, 22, 0, 0, 0, time.UTC)
	for i := 0; i < 3000; i++ {
		ev := events.Event{Time: at.Add(time.Duration(i) * time.Second), Tenant: "acme", Feed: "http", Message: fmt.Sprintf("event %d", i), Raw: fmt.Sprintf(`{"n":%d}`, i)}
		block.Add(&ev)
	}
	if err := block.AppendTo(b); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	srcPG, srcDB := metafixture.New(t, pg, "move_cmd_source")
	dstPG, dstDB := metafixture.New(t, pg, "move_cmd_target")
	if _, err := srcDB.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')"); err != nil {
		t.Fatal(err)
	}
	token, _, err := authtoken.Issue(ctx, srcDB, "acme", nil, "analyst", []string{"search"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{contract.PostgresURL: dstPG, contract.ClickHouseAddr: ch.Addr, contract.ClickHouseDatabase: "move_dst"}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := moveCommand(args, func(k string) string { return env[k] }, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	dsn := "clickhouse://default@" + ch.Addr + "/move_src"
	code, out, errOut := run("-source-clickhouse", dsn, "-source-postgres", srcPG)
	if code != 0 || !strings.Contains(out, "events: 3000 rows copied over 1 day(s)") || !strings.Contains(out, "metadata: ") {
		t.Fatalf("api move-from: %d\n%s%s", code, out, errOut)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM move_dst.events").Scan(&n); err != nil || n != 3000 {
		t.Fatalf("the target holds %d events (%v)", n, err)
	}
	if p, err := (&authtoken.Verifier{DB: dstDB}).Verify(ctx, token); err != nil || p.Tenant != "acme" {
		t.Errorf("the old token on the new deployment: %v %v", p, err)
	}
	if code, out, errOut := run("-source-clickhouse", dsn); code != 0 || !strings.Contains(out, "events: 0 rows copied") {
		t.Errorf("a second run: %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{}, {"-events=false"}, {"-source-clickhouse", dsn, "extra"}} {
		if code, _, errOut := run(args...); code != 2 || !strings.Contains(errOut, "usage") {
			t.Errorf("api move-from %v: %d %q", args, code, errOut)
		}
	}
	if code, _, errOut := run("-source-clickhouse", "clickhouse://default@"+ch.Addr+"/move_dst"); code != 2 || !strings.Contains(errOut, "own database") {
		t.Errorf("the deployment's own database as the source: %d %q", code, errOut)
	}
}
