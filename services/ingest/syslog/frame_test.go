package syslog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func frames(t *testing.T, in string, max int) ([]Frame, error) {
	t.Helper()
	f := NewFramer(strings.NewReader(in), max)
	var out []Frame
	for {
		fr, err := f.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		fr.Msg = bytes.Clone(fr.Msg)
		out = append(out, fr)
	}
}

func TestFramerBothFramings(t *testing.T) {
	t.Parallel()
	in := "12 <13>1 - - ab" + // octet-counted
		"<13>Oct 11 22:14:15 h a: line one\r\n" + // newline, CRLF
		"\n\n" + // empty lines
		"17 <13>1 - - x\ny\nzzz" + // a newline inside a counted message
		"2026-12-05 starts with digits\n" + // digits then text: a line
		"<13>last line without LF"
	got, err := frames(t, in, 1024)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"<13>1 - - ab", "<13>Oct 11 22:14:15 h a: line one", "<13>1 - - x\ny\nzzz", "2026-12-05 starts with digits", "<13>last line without LF"}
	if len(got) != len(want) {
		t.Fatalf("got %d frames %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if string(got[i].Msg) != want[i] || got[i].Truncated {
			t.Errorf("frame %d: %q (truncated %v), want %q", i, got[i].Msg, got[i].Truncated, want[i])
		}
	}
}

// Messages over the limit are cut, the stream stays in step.
func TestFramerTruncatesAndStaysInStep(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 100)
	in := "100 " + long + "<13>" + long + "\n" + "5 hello"
	got, err := frames(t, in, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("frames %+v", got)
	}
	if string(got[0].Msg) != long[:10] || !got[0].Truncated || got[0].Len != 100 {
		t.Errorf("counted: %+v", got[0])
	}
	if string(got[1].Msg) != "<13>aaaaaa" || !got[1].Truncated || got[1].Len != 104 {
		t.Errorf("line: %q %+v", got[1].Msg, got[1])
	}
	if string(got[2].Msg) != "hello" || got[2].Truncated {
		t.Errorf("after: %+v", got[2])
	}
}

func TestFramerRefusesHugeCounts(t *testing.T) {
	t.Parallel()
	_, err := frames(t, "9999999999 x", 1024)
	if !errors.Is(err, ErrFraming) {
		t.Fatalf("err %v, want ErrFraming", err)
	}
	// A count longer than the stream: the stream ended mid-message.
	if _, err := frames(t, "50 short", 1024); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want unexpected EOF", err)
	}
}

// FuzzFramer: no frame exceeds the limit, and the framer always ends.
func FuzzFramer(f *testing.F) {
	for _, s := range []string{"12 <13>1 - - ab<13>x\n", "999999999 a", "1\n2\n", "\r\n\x00", "7 abc"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := NewFramer(bytes.NewReader(b), 16)
		for i := 0; i <= len(b); i++ {
			m, err := fr.Next()
			if err != nil {
				return
			}
			if len(m.Msg) > 16 || (len(m.Msg) < 16 && m.Truncated) {
				t.Fatalf("frame %q truncated %v", m.Msg, m.Truncated)
			}
		}
		t.Fatalf("more frames than bytes in %q", b)
	})
}
