package syslog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// maxCountDigits bounds an octet count (RFC 6587 3.4.1): 9 digits is
// under a gigabyte, far above any accepted message.
const maxCountDigits = 9

// ErrFraming is a stream whose framing cannot be followed (an octet count
// of more than 9 digits, or one not followed by a space after digits
// that started it): the connection is closed.
var ErrFraming = errors.New("syslog framing error")

// Framer reads syslog messages from a stream with either framing of RFC
// 6587, decided per message as rsyslog and syslog-ng do: a message that
// starts with a digit is octet-counted ("<len> <msg>"), any other ends at
// a newline (LF; a CR before it is dropped). Messages longer than max are
// cut to max bytes (Truncated), the rest of them read and discarded, so the
// stream stays in step whatever a sender claims.
type Framer struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewFramer reads from r, keeping at most max bytes of a message.
func NewFramer(r io.Reader, max int) *Framer {
	return &Framer{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Frame is one message as read; Msg is valid until the next call to Next.
type Frame struct {
	Msg []byte
	// Truncated: the message was longer than max; Len is its length.
	Truncated bool
	Len       int
}

// Next returns the next message; io.EOF at a clean end of the stream.
func (f *Framer) Next() (Frame, error) {
	// Newlines between messages (after an octet-counted one, or empty
	// lines) are not messages.
	for {
		b, err := f.r.ReadByte()
		if err != nil {
			return Frame{}, err
		}
		if b != '\n' && b != '\r' && b != 0 {
			_ = f.r.UnreadByte()
			break
		}
	}
	f.buf = f.buf[:0]
	b, _ := f.r.ReadByte()
	if b >= '1' && b <= '9' {
		n := int(b - '0')
		f.buf = append(f.buf, b)
		for digits := 1; ; digits++ {
			c, err := f.r.ReadByte()
			if err != nil {
				if err == io.EOF && len(f.buf) > 0 {
					// A bare number at the end of the stream: a line.
					return Frame{Msg: f.buf, Len: len(f.buf)}, nil
				}
				return Frame{}, err
			}
			switch {
			case c == ' ':
				return f.counted(n)
			case c >= '0' && c <= '9':
				if digits == maxCountDigits {
					return Frame{}, fmt.Errorf("%w: an octet count of more than %d digits", ErrFraming, maxCountDigits)
				}
				n = n*10 + int(c-'0')
				f.buf = append(f.buf, c)
			default:
				// Digits then text: a line (e.g. an RFC 3164 message
				// without a priority that starts with a date).
				_ = f.r.UnreadByte()
				return f.line()
			}
		}
	}
	_ = f.r.UnreadByte()
	return f.line()
}

// counted reads an octet-counted message of n bytes.
func (f *Framer) counted(n int) (Frame, error) {
	keep := min(n, f.max)
	if cap(f.buf) < keep {
		f.buf = make([]byte, keep)
	}
	f.buf = f.buf[:keep]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		return Frame{}, unexpected(err)
	}
	if n > keep {
		if _, err := io.CopyN(io.Discard, f.r, int64(n-keep)); err != nil {
			return Frame{}, unexpected(err)
		}
	}
	return Frame{Msg: f.buf, Truncated: n > keep, Len: n}, nil
}

// line reads up to the next LF (or the end of the stream), appending to
// what Next already took.
func (f *Framer) line() (Frame, error) {
	total := len(f.buf)
	for {
		chunk, err := f.r.ReadSlice('\n')
		total += len(chunk)
		if room := f.max - len(f.buf); room > 0 {
			f.buf = append(f.buf, chunk[:min(room, len(chunk))]...)
		}
		switch {
		case err == nil:
			// Drop the LF (and a CR before it) when it was kept.
			total--
			if n := len(f.buf); n > 0 && f.buf[n-1] == '\n' {
				f.buf = f.buf[:n-1]
			}
			if n := len(f.buf); n > 0 && f.buf[n-1] == '\r' && total <= f.max {
				f.buf, total = f.buf[:n-1], total-1
			}
			return Frame{Msg: f.buf, Truncated: total > f.max, Len: total}, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && total > 0:
			return Frame{Msg: f.buf, Truncated: total > f.max, Len: total}, nil
		default:
			return Frame{}, err
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
