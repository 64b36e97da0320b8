package metadb

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/tests/harness"
)

var pg *harness.Postgres

func TestMain(m *testing.M) { harness.MainWithPostgres(m, &pg) }

// Replicas migrating at once all succeed, apply each migration once, and a
// second run changes nothing.
func TestConcurrentMigrationsApplyOnce(t *testing.T) {
	harness.Servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := pg.CreateDatabase(ctx, "metadb_concurrent")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := pgxpool.New(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			errs <- Migrate(ctx, db)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var n, max int
	if err := db.QueryRow(ctx, `SELECT count(*), max(version) FROM nano_schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(Migrations) || max != Migrations[len(Migrations)-1].Version {
		t.Errorf("%d migrations recorded (max %d), want %d", n, max, len(Migrations))
	}
	if err := EnsureTenant(ctx, db, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if err := EnsureTenant(ctx, db, "acme", "Acme again"); err != nil {
		t.Fatal(err)
	}
	if err := EnsureTenant(ctx, db, "Bad Tenant!", "x"); err == nil {
		t.Error("a tenant id with spaces was accepted")
	}
}

func TestMigrationVersionsAscend(t *testing.T) {
	for i, m := range Migrations {
		if m.Version != i+1 || m.Name == "" || m.SQL == "" {
			t.Errorf("migration %d: %+v", i, m.Version)
		}
	}
}
