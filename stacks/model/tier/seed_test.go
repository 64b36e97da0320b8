package tier

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nanosiem/nano/services/contract"
)

// seedPath is a copy of ../shared/seeds/000_5b2c27310f0e8ad4.txt, the
// deployment architecture. TestSeedCopyIsCurrent keeps it in step.
const seedPath = "testdata/seed-000-deployment-architecture.txt"

// table is one markdown table of the seed: its header cells and rows.
type table struct {
	header []string
	rows   [][]string
}

// col returns the cell of row under the header column named name.
func (tb table) col(t *testing.T, row []string, name string) string {
	t.Helper()
	for i, h := range tb.header {
		if h == name && i < len(row) {
			return row[i]
		}
	}
	t.Fatalf("seed table %v has no column %q", tb.header, name)
	return ""
}

// byFirst returns the rows keyed by their first cell.
func (tb table) byFirst() map[string][]string {
	m := map[string][]string{}
	for _, r := range tb.rows {
		m[r[0]] = r
	}
	return m
}

// seedTables parses every markdown table of the seed, keyed by the line that
// precedes it (its heading or caption) plus its header's first cells.
func seedTables(t *testing.T) []table {
	t.Helper()
	f, err := os.Open(seedPath)
	if err != nil {
		t.Fatalf("cannot open seed: %v", err)
	}
	defer f.Close()
	var out []table
	var cur *table
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// The monitoring table's rows lack a leading pipe.
		if !strings.HasPrefix(line, "|") && strings.Contains(line, " | ") && cur != nil {
			line = "| " + line
		}
		if !strings.HasPrefix(line, "|") {
			cur = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case cur == nil:
			out = append(out, table{header: cells})
			cur = &out[len(out)-1]
		case strings.HasPrefix(cells[0], "---") && len(cur.rows) > 0:
			// Two tables with no line between: the last row was the next
			// table's header.
			hdr := cur.rows[len(cur.rows)-1]
			cur.rows = cur.rows[:len(cur.rows)-1]
			out = append(out, table{header: hdr})
			cur = &out[len(out)-1]
		case strings.HasPrefix(cells[0], "---"):
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("cannot read seed: %v", err)
	}
	return out
}

// findTable returns the seed table whose header starts with the given cells.
func findTable(t *testing.T, tables []table, header ...string) table {
	t.Helper()
	for _, tb := range tables {
		if len(tb.header) >= len(header) && strings.Join(tb.header[:len(header)], "|") == strings.Join(header, "|") {
			return tb
		}
	}
	t.Fatalf("seed has no table with header %v", header)
	return table{}
}

var (
	reMachine  = regexp.MustCompile(`^(\d+) CPU / (\d+) GB$`)
	rePool     = regexp.MustCompile(`^(\d+)(\+?) x (\d+) CPU / (\d+) GB$`)
	reTopology = regexp.MustCompile(`(\d+) shards? x (\d+) replicas`)
	reLeadInt  = regexp.MustCompile(`^(\d+)`)
	reGB       = regexp.MustCompile(`(\d+) (GB|TB)`)
	reDays     = regexp.MustCompile(`(\d+) days`)
	reSize     = regexp.MustCompile(`^(\d+) x (\d+) CPU / (\d+) GB$`)
)

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	if err != nil {
		t.Fatalf("seed value %q is not a number: %v", s, err)
	}
	return n
}

func leadInt(t *testing.T, s string) int {
	t.Helper()
	m := reLeadInt.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("seed value %q does not start with a number", s)
	}
	return atoi(t, m[1])
}

func machine(t *testing.T, s string) Machine {
	t.Helper()
	m := reMachine.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("seed value %q is not a machine size", s)
	}
	return Machine{CPU: atoi(t, m[1]), MemoryGB: atoi(t, m[2])}
}

func pool(t *testing.T, s string) (nodes int, atLeast bool, m Machine) {
	t.Helper()
	p := rePool.FindStringSubmatch(s)
	if p == nil {
		t.Fatalf("seed value %q is not a node pool", s)
	}
	return atoi(t, p[1]), p[2] == "+", Machine{CPU: atoi(t, p[3]), MemoryGB: atoi(t, p[4])}
}

func gb(t *testing.T, s string) int {
	t.Helper()
	m := reGB.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("seed value %q has no size", s)
	}
	n := atoi(t, m[1])
	if m[2] == "TB" {
		n *= gbPerTB
	}
	return n
}

func topology(t *testing.T, s string) (shards, replicas int) {
	t.Helper()
	m := reTopology.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("seed value %q is not a shards x replicas topology", s)
	}
	return atoi(t, m[1]), atoi(t, m[2])
}

func retention(t *testing.T, s string) Retention {
	t.Helper()
	m := reDays.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("seed value %q is not a retention", s)
	}
	return Retention{Days: atoi(t, m[1]), WarmThenRolloff: strings.Contains(s, "rolloff")}
}

func mustLookup(t *testing.T, cell string) Spec {
	t.Helper()
	s, ok := Lookup(Name(strings.ToLower(cell)))
	if !ok {
		t.Fatalf("seed tier %q is not in the catalog", cell)
	}
	return s
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: catalog has %v, seed says %v", what, got, want)
	}
}

func TestCatalogMatchesSeedTiersTable(t *testing.T) {
	t.Parallel()
	tb := findTable(t, seedTables(t), "Tier", "GB/Day", "EPS")
	if len(tb.rows) != len(catalog) {
		t.Fatalf("seed lists %d tiers, catalog %d", len(tb.rows), len(catalog))
	}
	for i, row := range tb.rows {
		s := mustLookup(t, row[0])
		eq(t, string(s.Name)+" order", catalog[i].Name, s.Name)
		if gbDay := tb.col(t, row, "GB/Day"); gbDay == "Custom" {
			eq(t, string(s.Name)+" GB/day", s.GBPerDay, 0)
		} else {
			eq(t, string(s.Name)+" GB/day", s.GBPerDay, atoi(t, gbDay))
		}
		if eps := tb.col(t, row, "EPS"); eps == "Unlimited" {
			eq(t, string(s.Name)+" EPS", s.EPS, 0)
		} else {
			eq(t, string(s.Name)+" EPS", s.EPS, atoi(t, eps))
		}
		eq(t, string(s.Name)+" replicas", s.Replicas, atoi(t, tb.col(t, row, "Replicas")))
		eq(t, string(s.Name)+" HA", s.HA, tb.col(t, row, "HA") == "Yes")
		var want []string
		for _, p := range strings.Split(tb.col(t, row, "Cloud Providers"), ",") {
			want = append(want, strings.ToLower(strings.TrimSpace(p)))
		}
		var got []string
		for _, p := range s.Providers {
			got = append(got, string(p))
		}
		eq(t, string(s.Name)+" providers", strings.Join(got, ","), strings.Join(want, ","))
	}
}

func TestCatalogMatchesSeedComposeTable(t *testing.T) {
	t.Parallel()
	tb := findTable(t, seedTables(t), "Hobby", "Startup")
	rows := tb.byFirst()
	for col, name := range []Name{Hobby, Startup} {
		s, _ := Lookup(name)
		cell := func(aspect string) string {
			r, ok := rows[aspect]
			if !ok {
				t.Fatalf("seed compose table has no %q row", aspect)
			}
			return r[col+1]
		}
		eq(t, string(name)+" kind", s.Kind, Compose)
		p, _ := s.Pool(General)
		eq(t, string(name)+" machine", p.Machine, machine(t, cell("Machine")))
		eq(t, string(name)+" nodes", p.Nodes, 1)
		eq(t, string(name)+" storage", s.HotStorageGB, gb(t, cell("Storage")))
		eq(t, string(name)+" ClickHouse single node", s.ClickHouse, ClickHouseSpec{Shards: 1, Replicas: 1})
		if cell("ClickHouse") != "Single node, no replication" {
			t.Errorf("seed ClickHouse cell changed: %q", cell("ClickHouse"))
		}
		eq(t, string(name)+" PostgreSQL", s.Postgres.Instances, map[string]int{"Single instance": 1}[cell("PostgreSQL")])
		eq(t, string(name)+" replicas", s.Replicas, map[string]int{"1 of everything": 1}[cell("Replicas")])
		eq(t, string(name)+" retention", s.Retention, retention(t, cell("Retention")))
	}
}

func TestCatalogMatchesSeedGrowthTable(t *testing.T) {
	t.Parallel()
	rows := findTable(t, seedTables(t), "Aspect", "Growth").byFirst()
	s, _ := Lookup(Growth)
	nodes, _, m := pool(t, rows["Nodes"][1])
	p, _ := s.Pool(General)
	eq(t, "growth nodes", p.Nodes, nodes)
	eq(t, "growth machine", p.Machine, m)
	sh, rep := topology(t, rows["ClickHouse"][1])
	eq(t, "growth shards", s.ClickHouse.Shards, sh)
	eq(t, "growth replicas per shard", s.ClickHouse.Replicas, rep)
	eq(t, "growth ClickHouse operator", s.ClickHouse.Operator, strings.HasPrefix(rows["ClickHouse"][1], "Operator-managed"))
	eq(t, "growth PostgreSQL instances", s.Postgres.Instances, leadInt(t, strings.TrimPrefix(rows["PostgreSQL"][1], "CNPG, ")))
	eq(t, "growth CNPG", s.Postgres.Operator, strings.HasPrefix(rows["PostgreSQL"][1], "CNPG"))
	eq(t, "growth Keeper", s.ClickHouse.KeeperNodes, leadInt(t, rows["Keeper"][1]))
	eq(t, "growth app replicas", s.Replicas, leadInt(t, rows["App replicas"][1]))
	eq(t, "growth storage", s.HotStorageGB, gb(t, rows["Storage"][1]))
	eq(t, "growth retention", s.Retention, retention(t, rows["Retention"][1]))
	eq(t, "growth providers", string(s.Providers[0]), strings.ToLower(rows["Providers"][1]))
}

func TestCatalogMatchesSeedHATable(t *testing.T) {
	t.Parallel()
	rows := findTable(t, seedTables(t), "Team", "Business").byFirst()
	for col, name := range []Name{Team, Business} {
		s, _ := Lookup(name)
		cell := func(aspect string) string { return rows[aspect][col+1] }
		n := string(name)
		eq(t, n+" kind", s.Kind, HA)
		nodes, _, m := pool(t, cell("Nodes"))
		p, _ := s.Pool(General)
		eq(t, n+" nodes", p.Nodes, nodes)
		eq(t, n+" machine", p.Machine, m)
		eq(t, n+" app replicas", s.Replicas, leadInt(t, cell("App replicas")))
		sh, rep := topology(t, cell("ClickHouse"))
		eq(t, n+" shards", s.ClickHouse.Shards, sh)
		eq(t, n+" replicas per shard", s.ClickHouse.Replicas, rep)
		eq(t, n+" PostgreSQL instances", s.Postgres.Instances, leadInt(t, cell("PostgreSQL")))
		eq(t, n+" storage", s.HotStorageGB, gb(t, cell("Storage")))
		eq(t, n+" warm S3", s.ClickHouse.WarmS3, strings.Contains(cell("Warm storage"), "S3"))
		eq(t, n+" retention", s.Retention, retention(t, cell("Retention")))
	}
}

func TestCatalogMatchesSeedProTables(t *testing.T) {
	t.Parallel()
	tables := seedTables(t)
	pools := findTable(t, tables, "Pool", "Nodes", "Machine")
	s, _ := Lookup(Pro)
	roles := map[string]PoolRole{"App": App, "ClickHouse": ClickHouse, "Vector": Ingest}
	if len(pools.rows) != len(s.Pools) {
		t.Fatalf("seed lists %d Pro pools, catalog %d", len(pools.rows), len(s.Pools))
	}
	for _, row := range pools.rows {
		role, ok := roles[row[0]]
		if !ok {
			t.Fatalf("seed Pro pool %q has no catalog role", row[0])
		}
		p, ok := s.Pool(role)
		if !ok {
			t.Fatalf("catalog Pro has no %s pool", role)
		}
		eq(t, "pro "+row[0]+" nodes", p.Nodes, atoi(t, pools.col(t, row, "Nodes")))
		eq(t, "pro "+row[0]+" machine", p.Machine, machine(t, pools.col(t, row, "Machine")))
		eq(t, "pro "+row[0]+" scheduling", string(p.Scheduling), strings.ToLower(pools.col(t, row, "Scheduling")))
	}
	rows := findTable(t, tables, "Aspect", "Pro").byFirst()
	eq(t, "pro app replicas", s.Replicas, leadInt(t, rows["App replicas"][1]))
	sh, rep := topology(t, rows["ClickHouse"][1])
	eq(t, "pro shards", s.ClickHouse.Shards, sh)
	eq(t, "pro replicas per shard", s.ClickHouse.Replicas, rep)
	eq(t, "pro PostgreSQL instances", s.Postgres.Instances, leadInt(t, rows["PostgreSQL"][1]))
	storage := rows["Storage"][1] // "1 TB hot (250 GB per CH pod)"
	eq(t, "pro storage", s.HotStorageGB, gb(t, storage))
	eq(t, "pro per-pod storage", s.HotStoragePerPodGB(), gb(t, storage[strings.Index(storage, "(")+1:]))
	eq(t, "pro warm S3", s.ClickHouse.WarmS3, strings.Contains(rows["Warm storage"][1], "S3"))
	eq(t, "pro retention", s.Retention, retention(t, rows["Retention"][1]))
}

func TestCatalogMatchesSeedEnterpriseTable(t *testing.T) {
	t.Parallel()
	tb := findTable(t, seedTables(t), "Volume", "App Pool", "Vector Pool")
	s, _ := Lookup(Enterprise)
	if len(tb.rows) != len(s.VolumeBands) {
		t.Fatalf("seed lists %d volume bands, catalog %d", len(tb.rows), len(s.VolumeBands))
	}
	for i, row := range tb.rows {
		b := s.VolumeBands[i]
		eq(t, "enterprise band label", b.Label, row[0])
		n, atLeast, m := pool(t, tb.col(t, row, "App Pool"))
		eq(t, b.Label+" app pool", b.App, Pool{Role: App, Nodes: n, Machine: m, Scheduling: OnDemand, AtLeast: atLeast})
		n, atLeast, m = pool(t, tb.col(t, row, "Vector Pool"))
		eq(t, b.Label+" ingest pool", b.Ingest, Pool{Role: Ingest, Nodes: n, Machine: m, Scheduling: OnDemand, AtLeast: atLeast})
		// Band bounds: the labels' sizes, in order, with no gaps.
		sizes := reGB.FindAllString(strings.ReplaceAll(row[0], "1-10 TB", "1 TB-10 TB"), -1)
		if strings.HasPrefix(row[0], "10-50+") {
			sizes = []string{"10 TB"}
		}
		if i > 0 {
			eq(t, b.Label+" lower bound", b.MinGBPerDay, s.VolumeBands[i-1].MaxGBPerDay)
		}
		switch len(sizes) {
		case 1:
			if strings.HasPrefix(row[0], "Up to") {
				eq(t, b.Label+" upper bound", b.MaxGBPerDay, gb(t, sizes[0]))
			} else {
				eq(t, b.Label+" lower bound", b.MinGBPerDay, gb(t, sizes[0]))
				eq(t, b.Label+" unbounded", b.MaxGBPerDay, 0)
			}
		case 2:
			eq(t, b.Label+" lower bound", b.MinGBPerDay, gb(t, sizes[0]))
			eq(t, b.Label+" upper bound", b.MaxGBPerDay, gb(t, sizes[1]))
		default:
			t.Errorf("cannot read the bounds of band %q", row[0])
		}
	}
	for _, line := range seedLines(t) {
		if strings.HasPrefix(line, "- ") && strings.Contains(line, "replicas of all application services") {
			eq(t, "enterprise replicas", s.Replicas, leadInt(t, strings.TrimPrefix(line, "- ")))
		}
	}
}

func TestCatalogMatchesSeedClickHouseTable(t *testing.T) {
	t.Parallel()
	tb := findTable(t, seedTables(t), "Tier", "Topology", "Keeper")
	for _, row := range tb.rows {
		for _, name := range strings.Split(row[0], "/") {
			s := mustLookup(t, name)
			n := string(s.Name)
			topo, keeper, storage := tb.col(t, row, "Topology"), tb.col(t, row, "Keeper"), tb.col(t, row, "Storage")
			switch {
			case topo == "ClickHouse Cloud":
				eq(t, n+" ClickHouse Cloud", s.ClickHouse.Cloud, true)
				eq(t, n+" Keeper managed", keeper, "Managed")
			case topo == "Single node":
				eq(t, n+" single node", s.ClickHouse.Pods(), 1)
			default:
				sh, rep := topology(t, topo)
				eq(t, n+" shards", s.ClickHouse.Shards, sh)
				eq(t, n+" replicas", s.ClickHouse.Replicas, rep)
			}
			if keeper == "None" || keeper == "Managed" {
				eq(t, n+" keeper", s.ClickHouse.KeeperNodes, 0)
			} else {
				eq(t, n+" keeper", s.ClickHouse.KeeperNodes, leadInt(t, keeper))
			}
			eq(t, n+" warm S3", s.ClickHouse.WarmS3, strings.Contains(storage, "Wasabi warm"))
		}
	}
}

func TestCatalogMatchesSeedPostgresTable(t *testing.T) {
	t.Parallel()
	tb := findTable(t, seedTables(t), "Tier", "Instances", "HA")
	for _, row := range tb.rows {
		for _, name := range strings.Split(row[0], "/") {
			s := mustLookup(t, name)
			n := string(s.Name)
			if inst := tb.col(t, row, "Instances"); inst == "Cloud SQL / RDS" {
				eq(t, n+" managed PostgreSQL", s.Postgres.Managed, true)
			} else {
				eq(t, n+" PostgreSQL instances", s.Postgres.Instances, leadInt(t, inst))
			}
			eq(t, n+" PostgreSQL HA", s.Postgres.HA(), tb.col(t, row, "HA") != "No")
		}
	}
}

func TestCatalogMatchesSeedPortsAndMonitoring(t *testing.T) {
	t.Parallel()
	tables := seedTables(t)
	ingest := findTable(t, tables, "Port", "Protocol", "Auth").byFirst()
	eq(t, "HTTP port", ingest[strconv.Itoa(contract.Ports.IngestHTTP)][1], "HTTP")
	eq(t, "HEC port", ingest[strconv.Itoa(contract.Ports.IngestHEC)][1], "HEC")
	eq(t, "native port", ingest[strconv.Itoa(contract.Ports.IngestNative)][1], "Vector native")
	lines := strings.Join(seedLines(t), "\n")
	for _, ep := range []string{
		"api:" + strconv.Itoa(contract.Ports.API) + "/metrics",
		"search:" + strconv.Itoa(contract.Ports.Search) + "/metrics",
		"vector:" + strconv.Itoa(contract.Ports.IngestMetrics) + "/metrics",
		"postgres-exporter:" + strconv.Itoa(contract.Ports.PostgresExporter),
	} {
		if !strings.Contains(lines, ep) {
			t.Errorf("seed monitoring table has no endpoint %s", ep)
		}
	}
	if !strings.Contains(lines, "10-15 second intervals") || ScrapeInterval.Seconds() < 10 || ScrapeInterval.Seconds() > 15 {
		t.Errorf("scrape interval %v is outside the seed's 10-15 s", ScrapeInterval)
	}
}

func seedLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatalf("cannot read seed: %v", err)
	}
	return strings.Split(string(b), "\n")
}

// TestSeedCopyIsCurrent compares the testdata copy with the shared seed when
// this checkout has ../shared beside it (developer machines and CI do).
func TestSeedCopyIsCurrent(t *testing.T) {
	t.Parallel()
	shared := filepath.Join("..", "..", "..", "..", "shared", "seeds", "000_5b2c27310f0e8ad4.txt")
	want, err := os.ReadFile(shared)
	if os.IsNotExist(err) {
		t.Logf("no shared seed at %s; comparing the testdata copy only", shared)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s: copy the seed again and update the catalog", seedPath, shared)
	}
}

// Every tier rolls events off after a bounded time; Enterprise, for which
// the seed gives none, keeps a year like the other HA tiers.
func TestEveryTierHasARetention(t *testing.T) {
	t.Parallel()
	for _, n := range Names() {
		s := mustLookup(t, string(n))
		if s.Retention.Days <= 0 {
			t.Errorf("%s keeps events forever (retention %d days)", n, s.Retention.Days)
		}
	}
	if s := mustLookup(t, string(Enterprise)); s.Retention.Days != 365 {
		t.Errorf("enterprise retention %d days, want 365", s.Retention.Days)
	}
}
