package native

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // Vector's sink may compress with gzip
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/decode"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
)

// Identity is whom the port's events belong to (clients are authenticated
// by certificate, not token).
var Identity = tokens.Identity{Tenant: "default", Feed: "vector"}

// TLSConfig loads the server certificate and the CA that client
// certificates must chain to; clients without one are refused.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot load the native port's certificate: %w", err)
	}
	pem, err := os.ReadFile(clientCAFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", clientCAFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"},
	}, nil
}

// NewServer returns the gRPC server of the port.
func NewServer(in *intake.Intake, tlsConfig *tls.Config) *grpc.Server {
	s := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsConfig)),
		grpc.ForceServerCodec(rawCodec{}),
		grpc.MaxRecvMsgSize(int(in.Limits.MaxDecodedBytes)),
		grpc.MaxConcurrentStreams(256),
		grpc.ConnectionTimeout(10*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second}),
	)
	s.RegisterService(&serviceDesc, &service{in: in})
	return s
}

type service struct{ in *intake.Intake }

// serviceDesc is vector.Vector, registered without generated code.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: "vector.Vector",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "PushEvents", Handler: unary(func(s *service, ctx context.Context, b []byte) ([]byte, error) { return s.push(ctx, b) })},
		{MethodName: "HealthCheck", Handler: unary(func(s *service, _ context.Context, _ []byte) ([]byte, error) {
			return healthResponse(!s.in.Sink.Saturated()), nil
		})},
	},
	Streams:  []grpc.StreamDesc{},
	Metadata: "vector.proto",
}

func unary(f func(*service, context.Context, []byte) ([]byte, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var in frame
		if err := dec(&in); err != nil {
			return nil, err
		}
		out, err := f(srv.(*service), ctx, in)
		if err != nil {
			return nil, err
		}
		return frame(out), nil
	}
}

func (s *service) push(ctx context.Context, b []byte) ([]byte, error) {
	in := s.in
	code := codes.OK
	defer func() { in.Metrics.Requests.WithLabelValues(in.Protocol, code.String()).Inc() }()
	fail := func(c codes.Code, reason, format string, args ...any) ([]byte, error) {
		code = c
		in.Metrics.Rejected.WithLabelValues(in.Protocol, reason).Inc()
		return nil, status.Errorf(c, format, args...)
	}
	in.Metrics.Bytes.WithLabelValues(in.Protocol).Add(float64(len(b)))
	req, err := decodePush(b, in.Limits.MaxEvents)
	if err != nil {
		return fail(codes.InvalidArgument, telemetry.ReasonBadRequest, "cannot decode PushEventsRequest: %v", err)
	}
	now := in.Now()
	evs := make([]events.Event, 0, len(req.logs))
	for i, fields := range req.logs {
		raw, err := json.Marshal(fields)
		if err != nil {
			raw = []byte(fmt.Sprint(fields))
		}
		ev, err := decode.FromFields(fields, string(raw), now, in.Limits.Event)
		if err != nil {
			return fail(codes.InvalidArgument, telemetry.ReasonBadRequest, "event %d: %v", i, err)
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		return nil, nil
	}
	intake.Stamp(evs, Identity)
	adm := in.Admit(Identity, evs)
	if adm.Outcome == intake.OK {
		var err error
		if adm, err = in.Write(ctx, adm, evs); adm.Outcome == intake.Busy && errors.Is(err, context.Canceled) {
			code = codes.Canceled
			return nil, status.Error(code, "request canceled before the commit")
		}
	}
	switch adm.Outcome {
	case intake.OK:
		return nil, nil // PushEventsResponse {}
	case intake.Invalid, intake.Refused:
		code = codes.InvalidArgument
	case intake.RateLimited, intake.OverQuota:
		code = codes.ResourceExhausted
	default: // DiskFull, Busy
		code = codes.Unavailable
	}
	return nil, status.Error(code, adm.Msg)
}

// frame is one protobuf message, encoded.
type frame []byte

// rawCodec hands the handlers the encoded messages (decoded by wire.go).
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	f, ok := v.(frame)
	if !ok {
		if p, ok := v.(*frame); ok {
			return *p, nil
		}
		return nil, fmt.Errorf("native: cannot marshal %T", v)
	}
	return f, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	f, ok := v.(*frame)
	if !ok {
		return fmt.Errorf("native: cannot unmarshal into %T", v)
	}
	*f = append((*f)[:0], data...)
	return nil
}
