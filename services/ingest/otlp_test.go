package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/nanosiem/nano/tests/harness"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nanosiem/nano/services/contract"
)

// otlpLogs is a batch of n records of one service on one host, with a
// trace, a nested attribute, a severity number and text, a scope; record i
// says "<prefix> i".
func otlpLogs(prefix string, n int, at time.Time) plog.Logs {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "web-1")
	rl.Resource().Attributes().PutStr("k8s.pod.name", "checkout-7f9")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("app.logger")
	sl.Scope().SetVersion("1.2.3")
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(i) * time.Nanosecond)))
		lr.SetSeverityNumber(plog.SeverityNumberError2)
		lr.SetSeverityText("ERROR")
		lr.Body().SetStr(fmt.Sprintf("%s %d", prefix, i))
		lr.Attributes().PutInt("http.status_code", 503)
		lr.Attributes().PutEmptyMap("user").PutStr("id", "u-7")
		lr.SetTraceID(pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c})
		lr.SetSpanID(pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74})
	}
	return logs
}

func otlpPost(t *testing.T, s *service, token, contentType string, gzipped bool, body []byte) (int, http.Header, []byte) {
	t.Helper()
	h := map[string]string{"Content-Type": contentType}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	if gzipped {
		h["Content-Encoding"] = "gzip"
		body = gz(t, string(body))
	}
	req, err := http.NewRequest(http.MethodPost, s.ingest+"/v1/logs", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

func otlpClient(t *testing.T, s *service) plogotlp.GRPCClient {
	t.Helper()
	conn, err := grpc.NewClient(s.otlp, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return plogotlp.NewGRPCClient(conn)
}

func withToken(t *testing.T, token string) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// OTLP over HTTP (protobuf, gzip protobuf, JSON) and gRPC: every record is
// stored, committed before the answer, its fields mapped (service.name,
// host.name, severity, body, trace and span ids, the other attributes);
// wrong or missing tokens, a token of another feed kind, a body that is not
// OTLP and an unknown content type are refused and store nothing.
func TestOTLPLogs(t *testing.T) {
	s := start(t, "ing_otlp")
	at := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	send := map[string]func(plog.Logs) error{
		"http-protobuf": func(l plog.Logs) error {
			b, _ := plogotlp.NewExportRequestFromLogs(l).MarshalProto()
			return expectOK(t, s, "application/x-protobuf", false, b)
		},
		"http-protobuf-gzip": func(l plog.Logs) error {
			b, _ := plogotlp.NewExportRequestFromLogs(l).MarshalProto()
			return expectOK(t, s, "application/x-protobuf", true, b)
		},
		"http-json": func(l plog.Logs) error {
			b, _ := plogotlp.NewExportRequestFromLogs(l).MarshalJSON()
			if !bytes.Contains(b, []byte(`"traceId":"5b8efff798038103d269b633813fc60c"`)) {
				return fmt.Errorf("the JSON request does not carry the trace id in hex: %s", b)
			}
			return expectOK(t, s, "application/json", false, b)
		},
		"grpc": func(l plog.Logs) error {
			resp, err := otlpClient(t, s).Export(withToken(t, ingestToken), plogotlp.NewExportRequestFromLogs(l))
			if err != nil {
				return err
			}
			if ps := resp.PartialSuccess(); ps.RejectedLogRecords() != 0 || ps.ErrorMessage() != "" {
				return fmt.Errorf("partial success %d %q", ps.RejectedLogRecords(), ps.ErrorMessage())
			}
			return nil
		},
	}
	for name, f := range send {
		if err := f(otlpLogs(name, 50, at)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Acknowledged means committed.
		if n := s.count(t, fmt.Sprintf("message LIKE '%s %%'", name)); n != 50 {
			t.Errorf("%s: %d records stored after the answer, want 50", name, n)
		}
	}
	mapped := "tenant = 'default' AND feed = 'http' AND service = 'checkout' AND host = 'web-1' AND severity = 'error'" +
		" AND ts = toDateTime(1795428000) AND ts_nanos = 123456789 AND message = 'grpc 0'" +
		" AND attr_values[indexOf(attr_keys, 'trace_id')] = '5b8efff798038103d269b633813fc60c'" +
		" AND attr_values[indexOf(attr_keys, 'span_id')] = 'eee19b7ec3c1b174'" +
		" AND attr_values[indexOf(attr_keys, 'http.status_code')] = '503'" +
		" AND attr_values[indexOf(attr_keys, 'user.id')] = 'u-7'" +
		" AND attr_values[indexOf(attr_keys, 'k8s.pod.name')] = 'checkout-7f9'" +
		" AND attr_values[indexOf(attr_keys, 'otel.scope.name')] = 'app.logger'" +
		" AND attr_values[indexOf(attr_keys, 'otel.severity_text')] = 'ERROR'" +
		" AND NOT has(attr_keys, 'service.name') AND NOT has(attr_keys, 'host.name')" +
		" AND position(raw, '\"traceId\":\"5b8efff798038103d269b633813fc60c\"') > 0"
	if n := s.count(t, mapped); n != 1 {
		var raw string
		_ = s.conn.QueryRow(context.Background(), "SELECT concat(toString(ts), ' ', toString(ts_nanos), ' ', severity, ' ', service, ' ', host, ' ', arrayStringConcat(attr_keys, ','), ' ', raw) FROM "+s.table+" WHERE message = 'grpc 0'").Scan(&raw)
		t.Errorf("the record's fields were not mapped: %s", raw)
	}
	before := s.count(t, "1")

	// Refusals: nothing stored.
	b, _ := plogotlp.NewExportRequestFromLogs(otlpLogs("refused", 3, at)).MarshalProto()
	for _, c := range []struct {
		name, token, ct string
		body            []byte
		code            int
	}{
		{"no token", "", "application/x-protobuf", b, 401},
		{"wrong token", "not-the-token-0123456789", "application/x-protobuf", b, 401},
		{"a HEC feed's token", hecToken, "application/x-protobuf", b, 403},
		{"not OTLP", ingestToken, "application/x-protobuf", []byte("\xff\xff\xff\xff"), 400},
		{"not OTLP JSON", ingestToken, "application/json", []byte(`{"resourceLogs":"x"}`), 400},
		{"text", ingestToken, "text/plain", b, 415},
	} {
		code, _, body := otlpPost(t, s, c.token, c.ct, false, c.body)
		var st spb.Status
		if c.ct == "application/x-protobuf" {
			if err := proto.Unmarshal(body, &st); err != nil || st.Message == "" {
				t.Errorf("%s: the body is not a google.rpc.Status: %v %q", c.name, err, body)
			}
		}
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.code)
		}
	}
	client := otlpClient(t, s)
	for _, c := range []struct {
		name, token string
		code        codes.Code
	}{{"wrong token", "not-the-token-0123456789", codes.Unauthenticated}, {"a HEC feed's token", hecToken, codes.PermissionDenied}} {
		_, err := client.Export(withToken(t, c.token), plogotlp.NewExportRequestFromLogs(otlpLogs("refused", 3, at)))
		if status.Code(err) != c.code {
			t.Errorf("gRPC with %s: %v, want %s", c.name, err, c.code)
		}
	}
	if _, err := client.Export(context.Background(), plogotlp.NewExportRequestFromLogs(otlpLogs("refused", 3, at))); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC without a token: %v", err)
	}
	if n := s.count(t, "1"); n != before {
		t.Errorf("refused requests stored %d records", n-before)
	}
	// Many calls one after another: the calls the port holds are given
	// back when each ends (a leak would refuse them once past its bound).
	for i := range 40 {
		if _, err := client.Export(withToken(t, ingestToken), plogotlp.NewExportRequestFromLogs(otlpLogs("seq-"+strconv.Itoa(i), 1, at))); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func expectOK(t *testing.T, s *service, ct string, gzipped bool, b []byte) error {
	code, h, body := otlpPost(t, s, ingestToken, ct, gzipped, b)
	if code != 200 || h.Get("Content-Type") != ct {
		return fmt.Errorf("%d %s %s", code, h.Get("Content-Type"), body)
	}
	resp := plogotlp.NewExportResponse()
	var err error
	if ct == "application/json" {
		err = resp.UnmarshalJSON(body)
	} else {
		err = resp.UnmarshalProto(body)
	}
	if err != nil {
		return fmt.Errorf("the answer is not an ExportLogsServiceResponse: %v", err)
	}
	if ps := resp.PartialSuccess(); ps.RejectedLogRecords() != 0 || ps.ErrorMessage() != "" {
		return fmt.Errorf("partial success %d %q", ps.RejectedLogRecords(), ps.ErrorMessage())
	}
	return nil
}

// What an exporter must retry is answered so: a tenant over its quota gets
// HTTP 429 with Retry-After and gRPC RESOURCE_EXHAUSTED with RetryInfo; a
// nearly full disk HTTP 503 with Retry-After and gRPC UNAVAILABLE; an
// event outside the time window is stored at its arrival time with a
// partial-success warning.
func TestOTLPRetryableRefusals(t *testing.T) {
	harness.Servers(t)
	s := startWith(t, "ing_otlp_quota", map[string]string{contract.IngestTenantEPS: "5", contract.IngestTenantBurstSeconds: "2",
		contract.IngestMaxEventAgeDays: "30"})
	now := time.Now()
	b, _ := plogotlp.NewExportRequestFromLogs(otlpLogs("q", 10, now)).MarshalProto()
	if code, _, body := otlpPost(t, s, ingestToken, "application/x-protobuf", false, b); code != 200 {
		t.Fatalf("the first 10 records: %d %s", code, body)
	}
	code, h, _ := otlpPost(t, s, ingestToken, "application/x-protobuf", false, b)
	if secs, err := strconv.Atoi(h.Get("Retry-After")); code != 429 || err != nil || secs < 1 {
		t.Errorf("over the quota: %d, Retry-After %q; want 429 with a Retry-After", code, h.Get("Retry-After"))
	}
	_, err := otlpClient(t, s).Export(withToken(t, ingestToken), plogotlp.NewExportRequestFromLogs(otlpLogs("q", 10, now)))
	st, _ := status.FromError(err)
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if st.Code() != codes.ResourceExhausted || retry == nil || retry.RetryDelay.AsDuration() < time.Second {
		t.Errorf("gRPC over the quota: %v, RetryInfo %v; want RESOURCE_EXHAUSTED with a RetryInfo", err, retry)
	}
	// A record 40 days old is stored at its arrival, with a warning.
	time.Sleep(3 * time.Second)
	old, _ := plogotlp.NewExportRequestFromLogs(otlpLogs("old", 1, now.Add(-40*24*time.Hour))).MarshalProto()
	code, _, body := otlpPost(t, s, ingestToken, "application/x-protobuf", false, old)
	resp := plogotlp.NewExportResponse()
	if code != 200 || resp.UnmarshalProto(body) != nil || !strings.Contains(resp.PartialSuccess().ErrorMessage(), "arrival time") {
		t.Errorf("an old record: %d, partial success %q", code, resp.PartialSuccess().ErrorMessage())
	}

	full := startProbing(t, "ing_otlp_disk", nil, func(context.Context) (float64, error) { return 0.01, nil })
	b, _ = plogotlp.NewExportRequestFromLogs(otlpLogs("disk", 1, time.Now())).MarshalProto()
	code, h, _ = otlpPost(t, full, ingestToken, "application/x-protobuf", false, b)
	if code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("a full disk: %d, Retry-After %q; want 503 with a Retry-After", code, h.Get("Retry-After"))
	}
	if _, err := otlpClient(t, full).Export(withToken(t, ingestToken), plogotlp.NewExportRequestFromLogs(otlpLogs("disk", 1, time.Now()))); status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC, a full disk: %v, want UNAVAILABLE", err)
	}
	if n := full.count(t, "1"); n != 0 {
		t.Errorf("%d records stored on a full disk", n)
	}
}

// An otlp feed's token (issued by the api) sends OTLP over HTTP and gRPC,
// its records stamped with its tenant and feed; it is refused on the
// bearer path, as a bearer feed's tokens are on HEC.
func TestOTLPFeedToken(t *testing.T) {
	harness.Servers(t)
	meta, token := feedToken(t, "ing_otlp_meta", "acme", "otlp")
	s := startWith(t, "ing_otlp_feed", map[string]string{contract.PostgresURL: meta})
	waitToken(t, s, token)
	at := time.Now()
	b, _ := plogotlp.NewExportRequestFromLogs(otlpLogs("feed-http", 4, at)).MarshalProto()
	if code, _, body := otlpPost(t, s, token, "application/x-protobuf", false, b); code != 200 {
		t.Fatalf("OTLP/HTTP with the feed's token: %d %s", code, body)
	}
	if _, err := otlpClient(t, s).Export(withToken(t, token), plogotlp.NewExportRequestFromLogs(otlpLogs("feed-grpc", 4, at))); err != nil {
		t.Fatalf("OTLP/gRPC with the feed's token: %v", err)
	}
	if n := s.count(t, "tenant = 'acme' AND feed = 'otlp-feed'"); n != 8 {
		t.Errorf("%d records stamped with the feed, want 8", n)
	}
	if code, _, out := post(t, s.ingest+"/v1/events", map[string]string{"Authorization": "Bearer " + token}, ndjson("x", 1)); code != http.StatusForbidden {
		t.Errorf("an otlp feed's token on /v1/events: %d %v, want 403", code, out)
	}
}
