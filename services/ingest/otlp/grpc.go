package otlp

import (
	"context"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // exporters compress with gzip by default
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
)

// ExportMethod is the gRPC method of OTLP logs.
const ExportMethod = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

// MaxStreamsPerConnection bounds the calls one connection has open.
const MaxStreamsPerConnection = 16

// MinCalls is the least number of Export calls the port holds at once.
const MinCalls = 16

// GRPC is the gRPC port's service.
type GRPC struct {
	plogotlp.UnimplementedGRPCServer
	in *intake.Intake
	// calls counts the Export calls held; over max a new one is refused
	// (UNAVAILABLE, which exporters retry) before its message is read.
	calls, max atomic.Int64
}

// NewGRPCServer returns the gRPC server of the OTLP port: TLS with
// tlsConfig (nil: plain, behind a proxy that terminates TLS). A call's
// token is checked from its metadata before its message is read; a message
// is at most in.Limits.MaxBodyBytes (decompressed too); at most
// max(MinCalls, in.Budget's size / MaxBodyBytes) calls are held at once, so
// the port holds about as many message bytes as the HTTP ports' budget.
func NewGRPCServer(in *intake.Intake, tlsConfig *tls.Config, budgetBytes int64) (*grpc.Server, *GRPC) {
	g := &GRPC{in: in}
	g.max.Store(max(MinCalls, budgetBytes/max(in.Limits.MaxBodyBytes, 1)))
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(in.Limits.MaxBodyBytes)),
		grpc.MaxConcurrentStreams(MaxStreamsPerConnection),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.InTapHandle(g.tap),
	}
	if tlsConfig != nil {
		c := tlsConfig.Clone()
		c.NextProtos = []string{"h2"}
		opts = append(opts, grpc.Creds(credentials.NewTLS(c)))
	}
	s := grpc.NewServer(opts...)
	plogotlp.RegisterGRPCServer(s, g)
	return s, g
}

type identityKey struct{}

// tap runs before a call's message is read (it must not block): it
// authenticates the call and takes one of the held calls, given back when
// the call ends.
func (g *GRPC) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != ExportMethod {
		return ctx, nil // gRPC answers Unimplemented
	}
	var auth string
	if v := info.Header.Get("authorization"); len(v) > 0 {
		auth = v[0]
	}
	id, forbidden, msg := authenticate(g.in, auth)
	if msg != "" {
		code := codes.Unauthenticated
		if forbidden {
			code = codes.PermissionDenied
		}
		g.count(code)
		return nil, status.Error(code, msg)
	}
	if g.calls.Add(1) > g.max.Load() {
		g.calls.Add(-1)
		g.in.Metrics.Rejected.WithLabelValues(g.in.Protocol, telemetry.ReasonOverloaded).Inc()
		g.count(codes.Unavailable)
		return nil, status.Error(codes.Unavailable, "too many OpenTelemetry exports at once; retry later")
	}
	var once sync.Once
	context.AfterFunc(ctx, func() { once.Do(func() { g.calls.Add(-1) }) })
	return context.WithValue(ctx, identityKey{}, id), nil
}

// Held is the number of Export calls held now.
func (g *GRPC) Held() int64 { return g.calls.Load() }

func (g *GRPC) count(c codes.Code) {
	g.in.Metrics.Requests.WithLabelValues(g.in.Protocol, c.String()).Inc()
}

// Export implements LogsService/Export.
func (g *GRPC) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	in := g.in
	resp := plogotlp.NewExportResponse()
	id, ok := ctx.Value(identityKey{}).(tokens.Identity)
	if !ok { // the tap authenticates every Export call
		g.count(codes.Unauthenticated)
		return resp, status.Error(codes.Unauthenticated, "a valid ingest token is required")
	}
	logs := req.Logs()
	n := logs.LogRecordCount()
	if n > in.Limits.MaxEvents {
		g.count(codes.InvalidArgument)
		return resp, status.Error(codes.InvalidArgument, tooMany(in, n))
	}
	if n == 0 {
		g.count(codes.OK)
		return resp, nil
	}
	adm := export(ctx, in, id, Map(logs, in.Now(), in.Limits.Event))
	var code codes.Code
	switch adm.Outcome {
	case intake.OK:
		g.count(codes.OK)
		if msg := warning(adm); msg != "" {
			resp.PartialSuccess().SetErrorMessage(msg)
		}
		return resp, nil
	case intake.Invalid, intake.Refused:
		g.count(codes.InvalidArgument)
		return resp, status.Error(codes.InvalidArgument, adm.Msg)
	case intake.RateLimited, intake.OverQuota:
		code = codes.ResourceExhausted
	case intake.DiskFull:
		code = codes.Unavailable
	default:
		code, adm.RetryAfter = codes.Unavailable, intake.RetryAfterBusy
	}
	g.count(code)
	// RetryInfo tells the exporter when to retry; OTLP exporters retry
	// RESOURCE_EXHAUSTED only with it.
	st, err := status.New(code, adm.Msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(max(adm.RetryAfter, time.Second))})
	if err != nil {
		return resp, status.Error(code, adm.Msg)
	}
	return resp, st.Err()
}
