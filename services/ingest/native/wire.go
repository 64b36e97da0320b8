package native

import (
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The Vector protocol, written from Vector's public protocol definition
// (proto/vector.proto and lib/vector-core/proto/event.proto; package
// "vector", service "Vector"):
//
//	PushEventsRequest  { repeated EventWrapper events = 1; }
//	EventWrapper       { oneof event { Log log = 1; Metric metric = 2; Trace trace = 3; } }
//	Log                { map<string, Value> fields = 1; Value value = 2; Value metadata = 3; }
//	Value              { oneof kind { bytes raw_bytes = 1; Timestamp timestamp = 2; int64 integer = 4;
//	                     double float = 5; bool boolean = 6; ValueMap map = 7; ValueArray array = 8;
//	                     ValueNull null = 9; } }
//	ValueMap           { map<string, Value> fields = 1; }
//	ValueArray         { repeated Value items = 1; }
//	HealthCheckResponse{ ServingStatus status = 1; }  // SERVING = 0, NOT_SERVING = 1
//
// Only logs are stored; metrics and traces are counted and skipped.

// maxDepth bounds nested maps and arrays.
const maxDepth = 32

// pushRequest is a decoded PushEventsRequest.
type pushRequest struct {
	logs []map[string]any
	// skipped counts metrics and traces.
	skipped int
}

// decodePush decodes a PushEventsRequest, keeping at most maxEvents logs.
func decodePush(b []byte, maxEvents int) (*pushRequest, error) {
	req := &pushRequest{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil // unknown fields are ignored, as protobuf does
		}
		return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if typ != protowire.BytesType {
				return nil
			}
			switch num {
			case 1:
				if len(req.logs) >= maxEvents {
					return fmt.Errorf("more than %d events in one request", maxEvents)
				}
				log, err := decodeLog(v)
				if err != nil {
					return fmt.Errorf("event %d: %w", len(req.logs)+req.skipped, err)
				}
				req.logs = append(req.logs, log)
			case 2, 3:
				req.skipped++
			}
			return nil
		})
	})
	return req, err
}

// decodeLog returns a log's fields: the value map (current Vector) merged
// over the deprecated fields map.
func decodeLog(b []byte) (map[string]any, error) {
	out := map[string]any{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			k, val, err := mapEntry(v, 1)
			if err != nil {
				return err
			}
			out[k] = val
		case 2:
			val, err := decodeValue(v, 1)
			if err != nil {
				return err
			}
			if m, ok := val.(map[string]any); ok {
				for k, x := range m {
					out[k] = x
				}
			} else if val != nil {
				out["message"] = val
			}
		}
		return nil
	})
	return out, err
}

// mapEntry decodes a map<string, Value> entry (key = 1, value = 2).
func mapEntry(b []byte, depth int) (string, any, error) {
	var key string
	var val any
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			key = string(v)
		case num == 2 && typ == protowire.BytesType:
			var err error
			val, err = decodeValue(v, depth+1)
			return err
		}
		return nil
	})
	return key, val, err
}

// decodeValue decodes a Value to string, time.Time, int64, float64, bool,
// map[string]any, []any or nil.
func decodeValue(b []byte, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("values nested too deeply")
	}
	var out any
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			out = string(v)
		case num == 2 && typ == protowire.BytesType:
			t, err := decodeTimestamp(v)
			out = t
			return err
		case num == 4 && typ == protowire.VarintType:
			out = int64(x)
		case num == 5 && typ == protowire.Fixed64Type:
			out = math.Float64frombits(x)
		case num == 6 && typ == protowire.VarintType:
			out = x != 0
		case num == 7 && typ == protowire.BytesType:
			m := map[string]any{}
			err := fields(v, func(num protowire.Number, typ protowire.Type, e []byte, _ uint64) error {
				if num != 1 || typ != protowire.BytesType {
					return nil
				}
				k, val, err := mapEntry(e, depth+1)
				m[k] = val
				return err
			})
			out = m
			return err
		case num == 8 && typ == protowire.BytesType:
			var items []any
			err := fields(v, func(num protowire.Number, typ protowire.Type, e []byte, _ uint64) error {
				if num != 1 || typ != protowire.BytesType {
					return nil
				}
				val, err := decodeValue(e, depth+1)
				items = append(items, val)
				return err
			})
			out = items
			return err
		case num == 9:
			out = nil
		}
		return nil
	})
	return out, err
}

// decodeTimestamp decodes google.protobuf.Timestamp (seconds = 1, nanos = 2).
func decodeTimestamp(b []byte) (time.Time, error) {
	var sec, nanos int64
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		if typ != protowire.VarintType {
			return nil
		}
		switch num {
		case 1:
			sec = int64(x)
		case 2:
			nanos = int64(int32(x))
		}
		return nil
	})
	if err == nil && (nanos < 0 || nanos > 999_999_999) {
		err = fmt.Errorf("timestamp nanos %d out of range", nanos)
	}
	return time.Unix(sec, nanos).UTC(), err
}

// fields walks the fields of a message: v is the payload of length-
// delimited fields, x the value of varint and fixed fields.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("malformed protobuf: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(b)
			x = uint64(x32)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("malformed protobuf: %v", protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// healthResponse encodes HealthCheckResponse.
func healthResponse(serving bool) []byte {
	if serving {
		return nil // SERVING is the zero value
	}
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}
