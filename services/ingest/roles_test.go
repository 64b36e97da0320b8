package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// Ingest as a deployment runs it: logged in to ClickHouse as nano_ingest
// (the users file a Compose host declares: inserts, no DDL) and to
// PostgreSQL as its own role (the api's grants), with the schemas the api
// created. Everything it does works: the bearer port, a feed token the api
// issued, HEC with indexer acknowledgement.
func TestIngestAsItsOwnUsers(t *testing.T) {
	harness.Servers(t)
	const password = "ingest-ch-password-0123456789"
	users, err := events.UsersXML(events.Engine{Database: "ing_roles"}.ServiceUsers(), map[string]string{
		contract.IngestDBUser: password, contract.SearchDBUser: "search-ch-password-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	server, err := harness.StartClickHouseWith(harness.ClickHouseOptions{UsersD: map[string][]byte{"nano-services.xml": users}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Stop)
	l := metafixture.NewWithRoles(t, pg, "ing_roles")
	ctx := context.Background()
	if err := metadb.EnsureTenant(ctx, l.Owner, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	var feed int64
	if err := l.Owner.QueryRow(ctx, `INSERT INTO feeds (tenant, name, kind) VALUES ('acme', 'fw', 'http') RETURNING id`).Scan(&feed); err != nil {
		t.Fatal(err)
	}
	feedToken, err := authtoken.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Owner.Exec(ctx, `INSERT INTO ingest_tokens (tenant, feed_id, hash) VALUES ('acme', $1, $2)`, feed, authtoken.Hash(feedToken)); err != nil {
		t.Fatal(err)
	}
	s := startWith(t, "ing_roles", map[string]string{
		contract.ClickHouseAddr: server.Addr, contract.ClickHouseUser: contract.IngestDBUser, contract.ClickHousePassword: password,
		contract.PostgresURL: l.Ingest, contract.IngestFlushInterval: "100ms",
	})
	if code, _, body := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + ingestToken}, ndjson("bootstrap", 3)); code != 200 {
		t.Fatalf("bearer ingest as nano_ingest: %d %v", code, body)
	}
	waitToken(t, s, feedToken)
	if code, _, body := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + feedToken}, ndjson("feed", 2)); code != 200 {
		t.Fatalf("the api's feed token: %d %v", code, body)
	}
	h := map[string]string{"Authorization": "Splunk " + hecToken, "X-Splunk-Request-Channel": channelID}
	code, _, body := post(t, s.hec+"/services/collector/event", h, []byte(`{"event":"acked as nano_ingest"}`))
	id, ok := body["ackId"].(float64)
	for deadline := time.Now().Add(20 * time.Second); (code != 200 || !ok) && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// The acknowledgements' table is known once the schema is.
		code, _, body = post(t, s.hec+"/services/collector/event", h, []byte(`{"event":"acked as nano_ingest"}`))
		id, ok = body["ackId"].(float64)
	}
	if code != 200 || !ok {
		t.Fatalf("HEC with a channel: %d %v", code, body)
	}
	acked := false
	for deadline := time.Now().Add(20 * time.Second); !acked && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, _, body := post(t, s.hec+"/services/collector/ack", h, []byte(fmt.Sprintf(`{"acks":[%d]}`, int64(id))))
		acks, _ := body["acks"].(map[string]any)
		acked = acks[fmt.Sprint(int64(id))] == true
	}
	if !acked {
		t.Fatal("the acknowledgement never turned true")
	}
	if n := s.count(t, "message LIKE 'bootstrap %' OR message LIKE 'feed %' OR message LIKE 'acked as nano_ingest'"); n < 6 {
		t.Errorf("%d events stored, want the 6 acknowledged at least", n)
	}
}
