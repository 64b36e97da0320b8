package harness

import (
	"context"
	"crypto/tls"
	"math"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protowire"
)

// A Vector client: the wire encoding of PushEventsRequest as a Vector
// aggregator's vector sink sends it (Vector's proto/vector.proto and
// lib/vector-core/proto/event.proto), for tests of ingest's native port.

// VectorPushRequest encodes logs (values: string, time.Time, int64,
// float64, bool, map[string]any, []any) as a PushEventsRequest, followed by
// one metric event (which the port skips).
func VectorPushRequest(logs ...map[string]any) []byte {
	var req []byte
	for _, l := range logs {
		var log []byte
		log = protowire.AppendTag(log, 2, protowire.BytesType) // Log.value
		log = protowire.AppendBytes(log, vectorValue(l))
		var wrapper []byte
		wrapper = protowire.AppendTag(wrapper, 1, protowire.BytesType) // EventWrapper.log
		wrapper = protowire.AppendBytes(wrapper, log)
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendBytes(req, wrapper)
	}
	req = protowire.AppendTag(req, 1, protowire.BytesType) // EventWrapper.metric
	req = protowire.AppendBytes(req, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{}))
	return req
}

func vectorValue(v any) []byte {
	var b []byte
	switch x := v.(type) {
	case string:
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, []byte(x))
	case time.Time:
		var ts []byte
		ts = protowire.AppendTag(ts, 1, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(x.Unix()))
		ts = protowire.AppendTag(ts, 2, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(x.Nanosecond()))
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, ts)
	case int64:
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(x))
	case float64:
		b = protowire.AppendTag(b, 5, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(x))
	case bool:
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(x))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var m []byte
		for _, k := range keys {
			var e []byte
			e = protowire.AppendTag(e, 1, protowire.BytesType)
			e = protowire.AppendBytes(e, []byte(k))
			e = protowire.AppendTag(e, 2, protowire.BytesType)
			e = protowire.AppendBytes(e, vectorValue(x[k]))
			m = protowire.AppendTag(m, 1, protowire.BytesType)
			m = protowire.AppendBytes(m, e)
		}
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	case []any:
		var a []byte
		for _, item := range x {
			a = protowire.AppendTag(a, 1, protowire.BytesType)
			a = protowire.AppendBytes(a, vectorValue(item))
		}
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendBytes(b, a)
	}
	return b
}

// VectorClient calls the vector.Vector service with encoded messages.
type VectorClient struct{ conn *grpc.ClientConn }

// DialVector connects to addr over TLS (the port wants a client
// certificate in cfg). Close it.
func DialVector(addr string, cfg *tls.Config) (*VectorClient, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return nil, err
	}
	return &VectorClient{conn: conn}, nil
}

// Call invokes method (PushEvents, HealthCheck) with an encoded request.
func (c *VectorClient) Call(ctx context.Context, method string, req []byte) ([]byte, error) {
	var out []byte
	err := c.conn.Invoke(ctx, "/vector.Vector/"+method, &req, &out)
	return out, err
}

// Close closes the connection.
func (c *VectorClient) Close() error { return c.conn.Close() }

// rawCodec passes encoded messages through.
type rawCodec struct{}

func (rawCodec) Name() string                  { return "proto" }
func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
