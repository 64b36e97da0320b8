package native

import (
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestDecodeTimestampRange(t *testing.T) {
	t.Parallel()
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1763899200)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 5)
	if ts, err := decodeTimestamp(b); err != nil || !ts.Equal(time.Unix(1763899200, 5)) {
		t.Errorf("timestamp %v %v", ts, err)
	}
	bad := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 2_000_000_000)
	if _, err := decodeTimestamp(bad); err == nil {
		t.Error("nanos beyond a second accepted")
	}
}

func TestDecodeBoundsDepthAndCount(t *testing.T) {
	t.Parallel()
	v := []byte{}
	for i := 0; i < maxDepth+5; i++ { // arrays nested beyond the bound
		inner := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), v)
		v = protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), inner)
	}
	if _, err := decodeValue(v, 0); err == nil {
		t.Error("unbounded nesting accepted")
	}
	log := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), nil)
	var req []byte
	for i := 0; i < 3; i++ {
		req = protowire.AppendBytes(protowire.AppendTag(req, 1, protowire.BytesType), log)
	}
	if _, err := decodePush(req, 2); err == nil {
		t.Error("more events than the limit accepted")
	}
}

// Whatever bytes arrive, decoding returns logs or an error; it never
// panics or loops.
func FuzzDecodePush(f *testing.F) {
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Add([]byte{0x0a, 0x06, 0x0a, 0x04, 0x12, 0x02, 0x0a, 0x00})
	f.Add([]byte{0x0a, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodePush(b, 1000)
		if err == nil && len(req.logs) > 1000 {
			t.Fatalf("%d logs", len(req.logs))
		}
	})
}
