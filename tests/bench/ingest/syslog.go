package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// syslogScheme marks the load generator's target as plain syslog over TCP
// (RFC 6587 octet counting) instead of an HTTP URL.
const syslogScheme = "syslog+tcp://"

// syslogSource is what the bench's ingest attributes loopback's plain
// syslog to (NANO_SYSLOG_TCP_SOURCES).
const syslogSource = "127.0.0.1/32=default:bench-syslog"

// syslogMessage appends one RFC 5424 message with the bearer phase's fields
// (event) to b, octet-counted: what rsyslog's omfwd with
// TCP_Framing="octet-counted" sends. seq makes every message differ.
func syslogMessage(b []byte, i int, seq int64) []byte {
	msg := fmt.Sprintf(`<%d>1 %s web-%d checkout %d orders [req@32473 method="GET" status="%d" path="/api/v1/orders" user="u-%d" tier="gold" region="eu-central-1" seq="%d"] GET /api/v1/orders/%d?expand=items,customer,shipping HTTP/1.1 200 %d bytes in %d ms from 10.%d.%d.%d user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 referer=https://shop.example.com/checkout/confirm pad=%s`,
		16*8+[]int{6, 4, 3}[i%3], time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"), i%12, 1000+i%50, 200+i%5, i%10000, seq,
		i, 1000+i%5000, i%900, i%256, (i/256)%256, i%200, strings.Repeat("x", 150))
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, ' ')
	return append(b, msg...)
}

// generateSyslog writes messages over clients TCP connections for d, as
// fast as ingest reads them (it stops reading a connection while its
// messages wait for the commit), closes them and prints a loadResult:
// Events is what was written, not what was stored (syslog has no
// application acknowledgement; the parent counts what ClickHouse holds).
func generateSyslog(addr string, d time.Duration, clients, batch int) error {
	var sent, byteCount, seq atomic.Int64
	var failures atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				failures.Add(1)
				return
			}
			defer conn.Close()
			w := bufio.NewWriterSize(conn, 256<<10)
			var b []byte
			for i := c * batch; time.Now().Before(deadline); i += batch {
				b = b[:0]
				for j := 0; j < batch; j++ {
					b = syslogMessage(b, i+j, seq.Add(1))
				}
				_ = conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
				if _, err := w.Write(b); err != nil {
					failures.Add(1)
					return
				}
				sent.Add(int64(batch))
				byteCount.Add(int64(len(b)))
			}
			if err := w.Flush(); err != nil {
				failures.Add(1)
			}
		}(c)
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(loadResult{
		Events: sent.Load(), Bytes: byteCount.Load(), Requests: clients, Failures: int(failures.Load()),
		Seconds: time.Since(start).Seconds(),
	})
}

// benchSyslog runs the same load as RFC 5424 syslog over plain TCP (5514,
// a listed source network) and compares it with bearer, the bearer path's
// rate from the same run. Syslog has no acknowledgement, so a round ends
// when ClickHouse holds every message written (or fails after a minute of
// no progress: a lost message is an error, not a figure).
func benchSyslog(conn driver.Conn, svcPID int, self, addr string, d time.Duration, rounds, clients, batch int, bearer float64) error {
	var evs, bytes int64
	var secs, svcCPU float64
	for round := 1; round <= rounds; round++ {
		if err := emptyTable(conn, "bench.events"); err != nil {
			return err
		}
		cpu0 := cpuSeconds(svcPID)
		start := time.Now()
		r, _, err := runLoadURL(self, syslogScheme+addr, d, clients, batch)
		if err != nil {
			return err
		}
		if r.Failures > 0 {
			return fmt.Errorf("%d syslog connections failed", r.Failures)
		}
		stored, err := waitStored(conn, uint64(r.Events), time.Minute)
		if err != nil {
			return err
		}
		el := time.Since(start).Seconds()
		svcCPU += cpuSeconds(svcPID) - cpu0
		if stored != uint64(r.Events) {
			return fmt.Errorf("round %d: %d syslog messages written, ClickHouse stored %d", round, r.Events, stored)
		}
		fmt.Printf("round %d: syslog over TCP %.0f events/s (%d written and stored; %.1f s writing, %.1f s until stored)\n",
			round, float64(r.Events)/el, r.Events, r.Seconds, el)
		evs, bytes, secs = evs+r.Events, bytes+r.Bytes, secs+el
	}
	eps := float64(evs) / secs
	fmt.Printf("ingest end to end over syslog (RFC 5424, plain TCP with octet counting, a listed source network; %d connections x %d-message writes, %d-byte messages avg; rate = messages stored / time from the first write until ClickHouse held them all):\n",
		clients, batch, bytes/max(evs, 1))
	fmt.Printf("  events/s       %.0f (%.2f of the bearer path's %.0f events/s, same run)\n", eps, eps/bearer, bearer)
	fmt.Printf("  CPU per 1000   service %.1f ms\n", svcCPU*1e6/float64(max(evs, 1)))
	fmt.Printf("  written        %d messages; ClickHouse stored all of them\n", evs)
	return nil
}

// waitStored waits until bench.events holds want rows, or no new row came
// for patience; it returns the count.
func waitStored(conn driver.Conn, want uint64, patience time.Duration) (uint64, error) {
	var last uint64
	progress := time.Now()
	for {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM bench.events").Scan(&n); err != nil {
			return 0, err
		}
		if n >= want {
			return n, nil
		}
		if n != last {
			last, progress = n, time.Now()
		}
		if time.Since(progress) > patience {
			return n, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
