package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/tests/harness"
	"github.com/nanosiem/nano/tests/harness/eventsfixture"
	"github.com/nanosiem/nano/tests/harness/metafixture"
)

// An upgrade through the provisioning endpoint (`nano serve`, the
// provider-less probe program standing in for the stacks): a Hobby
// deployment whose data is a single ClickHouse server and a PostgreSQL
// database, as a Compose host runs them, is upgraded into a new Team
// deployment whose ClickHouse is a real 2 shards x 2 replicas cluster,
// while ingest keeps writing into the old one. The endpoint is SIGKILLed
// in the middle of the events move; restarted, it resumes the upgrade to
// success. The old deployment refuses changes meanwhile. Once the
// shippers write to the new one, completing the upgrade moves the rest
// and destroys the old deployment: every event the old one acknowledged is
// in the new one as often as in the old, the new one's own events are
// kept, and the old tokens verify on the new metadata.
func TestProvisioningUpgradesHobbyIntoTeam(t *testing.T) {
	harness.Servers(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	pg, err := harness.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	single, err := harness.StartClickHouse()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(single.Stop)
	cluster, target := harness.StartClusterFor(t, 2, 2)
	source, err := single.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	se, te := upgradeEngine(ctx, t, source, "nano_old", ""), upgradeEngine(ctx, t, target, "nano_new", harness.ClusterName)
	oldURL, oldMeta := metafixture.New(t, pg, "old_meta")
	newURL, newMeta := metafixture.New(t, pg, "new_meta")

	// The old deployment's history: 12 past days, and tokens.
	old := &eventsfixture.Writer{Conn: source, Engine: se, Prefix: "old"}
	day := time.Date(2026, 11, 18, 8, 0, 0, 0, time.UTC)
	for d := 0; d < 12; d++ {
		for b := 0; b < 4; b++ {
			if err := old.Batch(ctx, day.Add(time.Duration(d)*24*time.Hour+time.Duration(b)*time.Minute), 1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := oldMeta.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ('acme', 'acme')"); err != nil {
		t.Fatal(err)
	}
	token, _, err := authtoken.Issue(ctx, oldMeta, "acme", nil, "analyst", []string{"search"}, nil)
	if err != nil {
		t.Fatal(err)
	}

	s := newNanoServe(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(lastLines(s.logs(), 60))
		}
	})
	svc := s.start("--program", "probe")
	defer func() { _ = svc.Process.Signal(syscall.SIGTERM); _ = svc.Wait() }()
	if op := s.waitOp(s.started("POST", "/v1/deployments", `{"name":"shop","tier":"hobby","provider":"hetzner","region":"fsn1"}`),
		2*time.Minute, opEnded); op["state"] != "succeeded" {
		t.Fatalf("create: %v", op)
	}

	// Ingest goes on into the old deployment throughout.
	live := &eventsfixture.Writer{Conn: source, Engine: se, Prefix: "live"}
	stop, done := make(chan struct{}), make(chan error, 1)
	today := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	go func() { done <- live.Run(ctx, stop, today, 3000) }()

	move := map[string]string{
		"sourceClickhouse": fmt.Sprintf("clickhouse://default@%s/nano_old", single.Addr),
		"targetClickhouse": fmt.Sprintf("clickhouse://default@%s/nano_new", strings.Join(cluster.Addrs(), ",")),
		"targetCluster":    harness.ClusterName,
		"sourcePostgres":   oldURL, "targetPostgres": newURL,
	}
	bad := map[string]any{"name": "shop", "tier": "startup", "move": map[string]string{"targetClickhouse": "clickhouse://127.0.0.1:9000/not-a-name!"}}
	raw, _ := json.Marshal(bad)
	if code, body := s.call("POST", "/v1/deployments/shop/upgrade", string(raw)); code != 400 ||
		!strings.Contains(problemText(body), "name: is the deployment being upgraded") || !strings.Contains(problemText(body), "move.sourceClickhouse: is required") ||
		!strings.Contains(problemText(body), "move.targetClickhouse/move.targetCluster: the DSN's path names nano's database") {
		t.Errorf("a bad upgrade request: %d %v", code, body)
	}
	raw, _ = json.Marshal(map[string]any{"name": "shop-team", "tier": "team", "provider": "civo", "region": "lon1", "move": move})
	// The CLI starts the upgrade and follows it through the endpoint's
	// SIGKILL and restart to the operation that resumes it.
	reqFile := filepath.Join(t.TempDir(), "upgrade.json")
	if err := os.WriteFile(reqFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cli := s.cli("upgrade", "-f", reqFile, "shop")
	upgradeID := cli.waitLine(t, "operation ", time.Minute)
	upgradeID = strings.Fields(strings.TrimPrefix(upgradeID, "operation "))[0]

	// SIGKILL once the events move has done part of the history.
	killed := s.waitOp(upgradeID, 2*time.Minute, func(op map[string]any) bool {
		return opEnded(op) || movingDays(op)
	})
	if err := svc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = svc.Wait()
	if !movingDays(killed) {
		t.Fatalf("the upgrade ended before the endpoint was killed: %v", killed)
	}
	t.Logf("killed during %v", lastStep(killed))
	time.Sleep(2 * time.Second) // the orphaned CLI notices its program is gone
	svc = s.start("--program", "probe")

	op := s.waitOp(upgradeID, time.Minute, func(op map[string]any) bool { return opEnded(op) && op["resumedBy"] != nil })
	if op["state"] != "failed" || !strings.Contains(fmt.Sprint(op["error"]), "interrupted") {
		t.Errorf("the killed upgrade: %v", op)
	}
	resumed := s.waitOp(op["resumedBy"].(string), 3*time.Minute, opEnded)
	if resumed["state"] != "succeeded" || resumed["kind"] != "upgrade" {
		t.Fatalf("the resumed upgrade: %v", resumed)
	}
	if out, err := cli.wait(time.Minute); err != nil || !strings.Contains(out, "resumes it") || !strings.Contains(out, "verify: succeeded") {
		t.Errorf("nano upgrade, following the upgrade: %v\n%s", err, out)
	}
	for _, st := range resumed["steps"].([]any) {
		t.Logf("resumed upgrade: %v", st)
	}
	if code, body := s.call("PUT", "/v1/deployments/shop", `{"config":{"domain":"logs.shop.test"}}`); code != 409 || body["upgradingTo"] != "shop-team" {
		t.Errorf("a change to the deployment being upgraded: %d %v", code, body)
	}
	if code, body := s.call("POST", "/v1/deployments/shop/upgrade", string(raw)); code != 400 || !strings.Contains(problemText(body), "is upgraded into \"shop-team\" already") {
		t.Errorf("the same upgrade once more, after it succeeded: %d %v", code, body)
	}
	if code, body := s.call("POST", "/v1/deployments/shop-team/upgrade", string(raw)); code != 400 || !strings.Contains(problemText(body), "is not complete") {
		t.Errorf("an upgrade of an upgrade not completed: %d %v", code, body)
	}

	// The shippers switch to the new deployment.
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fresh := &eventsfixture.Writer{Conn: target, Engine: te, Prefix: "fresh"}
	for i := 0; i < 5; i++ {
		if err := fresh.Batch(ctx, today.Add(2*time.Hour+time.Duration(i)*time.Second), 200); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.cli("upgrade", "-complete", "shop-team").wait(2 * time.Minute)
	if err != nil || !strings.Contains(out, "retire: succeeded shop destroyed") {
		t.Fatalf("nano upgrade -complete: %v\n%s", err, out)
	}
	t.Logf("nano upgrade -complete:\n%s", out)
	t.Logf("%d events acknowledged by the old deployment during the upgrade", len(live.Acked()))
	if len(live.Acked()) == 0 {
		t.Fatal("no event was written during the upgrade")
	}

	if code, _ := s.call("GET", "/v1/deployments/shop", ""); code != 404 {
		t.Errorf("the old deployment is still there: %d", code)
	}
	_, body := s.call("GET", "/v1/deployments/shop-team", "")
	if d, _ := body["deployment"].(map[string]any); d["status"] != "ready" || d["upgradeOf"] != nil || d["tier"] != "team" {
		t.Errorf("the new deployment: %v", d)
	}
	if strings.Contains(fmt.Sprint(body)+fmt.Sprint(resumed), "clickhouse://") {
		t.Error("the endpoint returns the data addresses")
	}
	src := eventsfixture.RawCounts(ctx, t, source, se.Table())
	dst := eventsfixture.RawCounts(ctx, t, target, te.Table())
	eventsfixture.CheckMoved(t, src, dst, []*eventsfixture.Writer{old, live}, fresh)
	if p, err := (&authtoken.Verifier{DB: newMeta}).Verify(ctx, token); err != nil || p.Tenant != "acme" {
		t.Errorf("the old deployment's token on the new one: %v %v", p, err)
	}
}

// cliRun is a nano command run against the endpoint, its output
// collected line by line.
type cliRun struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan error
}

// cli runs the nano binary with args, pointed at the endpoint.
func (s *nanoServe) cli(args ...string) *cliRun {
	s.t.Helper()
	cmd := exec.Command(s.bin, append([]string{args[0], "-endpoint", s.url("")}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "NANO_PROVISION_TOKEN="+s.token)
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	c := &cliRun{cmd: cmd, done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
		}
		c.done <- cmd.Wait()
	}()
	s.t.Cleanup(func() { _ = cmd.Process.Kill() })
	return c
}

func (c *cliRun) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// waitLine waits for a line starting with prefix and returns it.
func (c *cliRun) waitLine(t *testing.T, prefix string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, l := range c.lines {
			if strings.HasPrefix(l, prefix) {
				c.mu.Unlock()
				return l
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no line %q from %v:\n%s", prefix, c.cmd.Args, c.output())
	return ""
}

// wait waits for the command to exit and returns its output.
func (c *cliRun) wait(within time.Duration) (string, error) {
	select {
	case err := <-c.done:
		return c.output(), err
	case <-time.After(within):
		_ = c.cmd.Process.Kill()
		return c.output(), fmt.Errorf("still running after %s", within)
	}
}

// upgradeEngine migrates nano's events schema into database on conn.
func upgradeEngine(ctx context.Context, t *testing.T, conn driver.Conn, database, cluster string) events.Engine {
	t.Helper()
	v, err := events.DetectVersion(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Engine{Version: v, Database: database, Cluster: cluster}
	if err := events.Migrate(ctx, conn, e); err != nil {
		t.Fatal(err)
	}
	return e
}

// lastStep is an operation's last recorded step.
func lastStep(op any) any {
	o, _ := op.(map[string]any)
	steps, _ := o["steps"].([]any)
	if len(steps) == 0 {
		return nil
	}
	return steps[len(steps)-1]
}

// movingDays: the operation's events step has moved a day and goes on.
func movingDays(op map[string]any) bool {
	st, _ := lastStep(op).(map[string]any)
	return st["name"] == "events" && st["state"] == "running" && strings.HasPrefix(fmt.Sprint(st["detail"]), "day ")
}
