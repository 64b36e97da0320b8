package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// Ingest on a real replicated ClickHouse (2 shards x 2 replicas of 18.16,
// ZooKeeper): what is acknowledged is committed on its shard and reaches
// both replicas; a replica killed under a retrying load loses nothing and
// duplicates nothing; with both replicas of a shard down requests get 503
// and none is acknowledged.
func TestOnCluster(t *testing.T) {
	harness.Servers(t)
	c, conn := harness.StartClusterFor(t, 2, 2)
	s := startWith(t, "ing_cluster", map[string]string{
		contract.ClickHouseAddr:      strings.Join(c.Addrs(), ","),
		contract.ClickHouseCluster:   harness.ClusterName,
		contract.IngestFlushInterval: "50ms",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	send := func(batch string, events int) int {
		var body strings.Builder
		for i := 0; i < events; i++ {
			fmt.Fprintf(&body, `{"message":"%s-e%d","batch":"%s"}`+"\n", batch, i, batch)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.ingest+"/v1/events", strings.NewReader(body.String()))
		req.Header.Set("Authorization", "Bearer "+ingestToken)
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// stored counts a batch's events and distinct events through the
	// Distributed table, once every replica caught up.
	stored := func(t *testing.T, prefix string) map[string][2]uint64 {
		t.Helper()
		if err := c.SyncReplicas(ctx, "ing_cluster.events_local"); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, "SELECT attr_values[indexOf(attr_keys, 'batch')] AS b, count(), uniqExact(message) FROM ing_cluster.events WHERE startsWith(b, ?) GROUP BY b", prefix)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][2]uint64{}
		for rows.Next() {
			var b string
			var n, u uint64
			if err := rows.Scan(&b, &n, &u); err != nil {
				t.Fatal(err)
			}
			out[b] = [2]uint64{n, u}
		}
		return out
	}

	t.Run("acknowledged is on both replicas of its shard", func(t *testing.T) {
		for b := 0; b < 20; b++ {
			if code := send(fmt.Sprintf("ack-%d", b), 100); code != 200 {
				t.Fatalf("batch %d: %d", b, code)
			}
		}
		if got := stored(t, "ack-"); len(got) != 20 {
			t.Fatalf("%d of 20 batches stored", len(got))
		}
		var total uint64
		for _, shard := range c.Shards {
			var per []uint64
			for _, n := range shard {
				v, err := n.Count(ctx, "SELECT count() FROM ing_cluster.events_local WHERE startsWith(message, 'ack-')")
				if err != nil {
					t.Fatal(err)
				}
				per = append(per, v)
			}
			if per[0] != per[1] || per[0] == 0 {
				t.Errorf("shard %d's replicas hold %v events", shard[0].Shard, per)
			}
			total += per[0]
		}
		if total != 2000 {
			t.Errorf("the shards hold %d of the 2000 acknowledged events", total)
		}
	})

	t.Run("a replica killed under a retrying load", func(t *testing.T) {
		const clients, batches, perBatch = 4, 30, 200
		var mu sync.Mutex
		acked := map[string]bool{}
		var wg sync.WaitGroup
		for cl := 0; cl < clients; cl++ {
			wg.Add(1)
			go func(cl int) {
				defer wg.Done()
				for b := 0; b < batches; b++ {
					id := fmt.Sprintf("kill-c%d-b%d", cl, b)
					for ctx.Err() == nil {
						if send(id, perBatch) == 200 {
							mu.Lock()
							acked[id] = true
							mu.Unlock()
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
				}
			}(cl)
		}
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= clients*batches/4 || ctx.Err() != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The first address: the one ingest's connections are likely on.
		victim := c.Shards[0][0]
		if err := victim.Crash(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		atKill := len(acked)
		mu.Unlock()
		wg.Wait()
		if err := victim.Restart(); err != nil {
			t.Fatal(err)
		}
		got := stored(t, "kill-")
		missing, duplicates := 0, uint64(0)
		for id := range acked {
			if got[id][1] != perBatch {
				missing++
			}
		}
		for _, v := range got {
			duplicates += v[0] - v[1]
		}
		if len(acked) != clients*batches || missing != 0 || duplicates != 0 {
			t.Errorf("%d of %d batches acknowledged; acknowledged but missing: %d batches; duplicate events: %d",
				len(acked), clients*batches, missing, duplicates)
		}
		t.Logf("replica killed after %d acknowledged batches; %d acknowledged, %d missing, %d duplicates", atKill, len(acked), missing, duplicates)
	})

	t.Run("a shard with no replica up gets 503", func(t *testing.T) {
		for _, n := range c.Shards[1] {
			if err := n.Crash(); err != nil {
				t.Fatal(err)
			}
		}
		codes := map[int]int{}
		for b := 0; b < 3; b++ {
			codes[send(fmt.Sprintf("down-%d", b), 100)]++
		}
		if codes[http.StatusServiceUnavailable] != 3 {
			t.Errorf("with shard 2 down, 3 requests were answered %v, want 503 each", codes)
		}
		for _, n := range c.Shards[1] {
			if err := n.Restart(); err != nil {
				t.Fatal(err)
			}
		}
		// Back up, the same batches go through.
		for b := 0; b < 3; b++ {
			if code := send(fmt.Sprintf("down-%d", b), 100); code != 200 {
				t.Errorf("batch %d after the shard came back: %d", b, code)
			}
		}
	})
}
