package harness

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	pg *Postgres
	ch *ClickHouse
)

func TestMain(m *testing.M) {
	if Short() {
		os.Exit(m.Run())
	}
	var err error
	if pg, err = StartPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
	if ch, err = StartClickHouse(); err != nil {
		pg.Stop()
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
	code := m.Run()
	ch.Stop()
	pg.Stop()
	os.Exit(code)
}

func TestPostgresAnswers(t *testing.T) {
	Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url, err := pg.CreateDatabase(ctx, "harness_test")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "15.") {
		t.Errorf("PostgreSQL %s, want 15.x", version)
	}
	var got int
	if err := conn.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&got); err != nil || got != 42 {
		t.Errorf("SELECT 41 + 1 = %d, %v", got, err)
	}
}

func TestClickHouseAnswers(t *testing.T) {
	Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := ch.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE TABLE harness_probe (id UInt64, msg String) ENGINE = MergeTree ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO harness_probe (id, msg)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := batch.Append(uint64(i), fmt.Sprintf("event %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM harness_probe WHERE msg LIKE 'event 9%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 111 {
		t.Errorf("count = %d, want 111", n)
	}
}
