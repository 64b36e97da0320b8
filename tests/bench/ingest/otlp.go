package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/nanosiem/nano/services/ingest/otlp"
)

// otlpMarker starts the first record's pad attribute of an OTLP body; the
// load generator overwrites it with the request's number.
const otlpMarker = "OTLPPADMARKER000"

// otlpBodies are n OTLP/HTTP protobuf requests of batch records each, the
// same fields as the bearer phase's events (event), as an OpenTelemetry
// SDK or Collector would send them: service.name on the resource, the rest
// on the records.
func otlpBodies(n, batch int) [][]byte {
	out := make([][]byte, n)
	for b := range out {
		logs := plog.NewLogs()
		rl := logs.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "checkout")
		rl.Resource().Attributes().PutStr("cloud.region", "eu-central-1")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for j := range batch {
			i := b*batch + j
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			lr.SetSeverityNumber([]plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError}[i%3])
			lr.Body().SetStr(fmt.Sprintf("GET /api/v1/orders/%d?expand=items,customer,shipping HTTP/1.1 200 %d bytes in %d ms from 10.%d.%d.%d user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 referer=https://shop.example.com/checkout/confirm",
				i, 1000+i%5000, i%900, i%256, (i/256)%256, i%200))
			a := lr.Attributes()
			a.PutStr("host.name", fmt.Sprintf("web-%d", i%12))
			a.PutStr("http.method", "GET")
			a.PutInt("http.status", int64(200+i%5))
			a.PutStr("http.path", "/api/v1/orders")
			a.PutStr("user.id", fmt.Sprintf("u-%d", i%10000))
			a.PutStr("user.tier", "gold")
			pad := strings.Repeat("x", 207)
			if j == 0 {
				pad = otlpMarker + pad[len(otlpMarker):]
			}
			a.PutStr("pad", pad)
			var tid pcommon.TraceID
			copy(tid[:], fmt.Sprintf("%016x", uint64(i)*2654435761))
			lr.SetTraceID(tid)
		}
		out[b], _ = plogotlp.NewExportRequestFromLogs(logs).MarshalProto()
	}
	return out
}

// isOTLP reports whether the load generator's url is OTLP/HTTP's.
func isOTLP(url string) bool { return strings.HasSuffix(url, otlp.Path) }

// padAt is where a body's request number goes.
func padAt(body []byte) int {
	if i := bytes.Index(body, []byte(otlpMarker)); i >= 0 {
		return i
	}
	return bytes.Index(body, []byte(`"pad":"`)) + len(`"pad":"`)
}

// benchOTLP runs the same load as OTLP/HTTP protobuf (POST /v1/logs, the
// same records' fields, answered after the commit) and compares it with
// bearer, the bearer path's rate from the same run.
func benchOTLP(conn driver.Conn, svcPID int, self, addr string, d time.Duration, rounds, clients, batch int, bearer float64) error {
	var evs, bytes int64
	var secs, svcCPU float64
	var stored uint64
	for round := 1; round <= rounds; round++ {
		if err := emptyTable(conn, "bench.events"); err != nil {
			return err
		}
		cpu0 := cpuSeconds(svcPID)
		r, _, err := runLoadURL(self, "http://"+addr+otlp.Path, d, clients, batch)
		if err != nil {
			return err
		}
		svcCPU += cpuSeconds(svcPID) - cpu0
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM bench.events").Scan(&n); err != nil {
			return err
		}
		stored += n
		if r.Failures > 0 {
			return fmt.Errorf("%d failed OTLP requests", r.Failures)
		}
		evs, bytes, secs = evs+r.Events, bytes+r.Bytes, secs+r.Seconds
	}
	eps := float64(evs) / secs
	fmt.Printf("ingest end to end over OTLP/HTTP (protobuf, POST %s, ack after commit, same load; %d-byte requests' records avg):\n", otlp.Path, bytes/max(evs, 1))
	fmt.Printf("  events/s       %.0f (%.2f of the bearer path's %.0f events/s, same run)\n", eps, eps/bearer, bearer)
	fmt.Printf("  CPU per 1000   service %.1f ms\n", svcCPU*1e6/float64(max(evs, 1)))
	fmt.Printf("  acknowledged   %d events; ClickHouse stored %d\n", evs, stored)
	if uint64(evs) > stored {
		return fmt.Errorf("%d OTLP records acknowledged but only %d stored", evs, stored)
	}
	return nil
}
