package query

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// kind is a token's kind.
type kind int

const (
	tEOF kind = iota
	tWord
	tString // a "quoted phrase"
	tColon
	tCmp // = != > >= < <=
	tLParen
	tRParen
	tLBracket
	tRBracket
	tPipe
	tComma
	tNot // NOT or a leading -
	tAnd
	tOr
)

func (k kind) String() string {
	return [...]string{"end of query", "word", "quoted phrase", "':'", "comparison", "'('", "')'", "'['", "']'", "'|'", "','", "NOT", "AND", "OR"}[k]
}

// token is one lexeme; Col is its 1-based column (in characters).
type token struct {
	kind kind
	text string // the word, the unquoted phrase, or the operator
	col  int
}

// Error is a query that cannot be parsed or compiled: the column (1-based,
// in characters) where it goes wrong and what was expected there.
type Error struct {
	Col int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

func errAt(col int, format string, args ...any) *Error {
	return &Error{Col: col, Msg: fmt.Sprintf(format, args...)}
}

// special are the characters that end a word.
const special = " \t\r\n():\"|,[]=!<>"

// lex splits q into tokens.
func lex(q string) ([]token, error) {
	var out []token
	col := 1 // column of q[i]
	i := 0
	prevValue := false // the previous token expects a value next (':' or a comparison)
	for i < len(q) {
		r, size := utf8.DecodeRuneInString(q[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, errAt(col, "the query is not valid UTF-8")
		}
		start := col
		switch {
		case unicode.IsSpace(r):
			i += size
			col++
			continue
		case r == '"':
			var b strings.Builder
			j, c := i+1, col+1
			closed := false
			for j < len(q) {
				r2, s2 := utf8.DecodeRuneInString(q[j:])
				if r2 == utf8.RuneError && s2 == 1 {
					return nil, errAt(c, "the query is not valid UTF-8")
				}
				if r2 == '"' {
					closed = true
					j += s2
					c++
					break
				}
				if r2 == '\\' && j+1 < len(q) {
					r3, s3 := utf8.DecodeRuneInString(q[j+1:])
					if r3 == '"' || r3 == '\\' {
						b.WriteRune(r3)
						j += 1 + s3
						c += 2
						continue
					}
				}
				b.WriteRune(r2)
				j += s2
				c++
			}
			if !closed {
				return nil, errAt(start, "a closing '\"' for the phrase started here")
			}
			out = append(out, token{kind: tString, text: b.String(), col: start})
			i, col = j, c
			prevValue = false
			continue
		case r == ':':
			out = append(out, token{kind: tColon, text: ":", col: start})
		case r == '(':
			out = append(out, token{kind: tLParen, text: "(", col: start})
		case r == ')':
			out = append(out, token{kind: tRParen, text: ")", col: start})
		case r == '[':
			out = append(out, token{kind: tLBracket, text: "[", col: start})
		case r == ']':
			out = append(out, token{kind: tRBracket, text: "]", col: start})
		case r == '|':
			out = append(out, token{kind: tPipe, text: "|", col: start})
		case r == ',':
			out = append(out, token{kind: tComma, text: ",", col: start})
		case r == '=' || r == '<' || r == '>' || r == '!':
			op := string(r)
			if i+1 < len(q) && q[i+1] == '=' {
				op += "="
			}
			if op == "!" {
				return nil, errAt(start, "'!=' (a lone '!' is not an operator; use NOT or -)")
			}
			out = append(out, token{kind: tCmp, text: op, col: start})
			i += len(op)
			col += len(op)
			prevValue = true
			continue
		case r == '-' && !prevValue && i+1 < len(q) && !unicode.IsSpace(rune(q[i+1])) && !strings.ContainsRune(")|,]", rune(q[i+1])):
			// A leading '-' negates what follows (-level:debug); in value
			// position it is part of the value (x>-5, ts>-15m).
			out = append(out, token{kind: tNot, text: "-", col: start})
		default:
			j, c := i, col
			for j < len(q) {
				r2, s2 := utf8.DecodeRuneInString(q[j:])
				if r2 == utf8.RuneError && s2 == 1 {
					return nil, errAt(c, "the query is not valid UTF-8")
				}
				// A word that starts with a digit keeps its colons:
				// times (2026-11-23T10:00:00Z), MAC addresses.
				if unicode.IsSpace(r2) || (strings.ContainsRune(special, r2) && !(r2 == ':' && unicode.IsDigit(r))) {
					break
				}
				j += s2
				c++
			}
			w := q[i:j]
			k := tWord
			switch w {
			case "AND":
				k = tAnd
			case "OR":
				k = tOr
			case "NOT":
				k = tNot
			}
			out = append(out, token{kind: k, text: w, col: start})
			i, col = j, c
			prevValue = w == "TO" // [a TO -5]
			continue
		}
		prevValue = r == ':' || r == '['
		i += size
		col++
	}
	out = append(out, token{kind: tEOF, col: col})
	return out, nil
}
