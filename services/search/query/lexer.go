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
			text, j, c, err := lexPhrase(q, i, col)
			if err != nil {
				return nil, err
			}
			out = append(out, token{kind: tString, text: text, col: start})
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
			t, j, c, err := lexWord(q, i, col, r)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
			i, col = j, c
			prevValue = t.text == "TO" // [a TO -5]
			continue
		}
		prevValue = r == ':' || r == '['
		i += size
		col++
	}
	out = append(out, token{kind: tEOF, col: col})
	return out, nil
}

// lexPhrase reads the phrase whose opening '"' is at q[i] (column col):
// its text with \" and \\ unescaped, and the index and column after it.
func lexPhrase(q string, i, col int) (string, int, int, error) {
	var b strings.Builder
	j, c := i+1, col+1
	for j < len(q) {
		r, s := utf8.DecodeRuneInString(q[j:])
		if r == utf8.RuneError && s == 1 {
			return "", 0, 0, errAt(c, "the query is not valid UTF-8")
		}
		if r == '"' {
			return b.String(), j + s, c + 1, nil
		}
		if r == '\\' && j+1 < len(q) {
			r2, s2 := utf8.DecodeRuneInString(q[j+1:])
			if r2 == '"' || r2 == '\\' {
				b.WriteRune(r2)
				j += 1 + s2
				c += 2
				continue
			}
		}
		b.WriteRune(r)
		j += s
		c++
	}
	return "", 0, 0, errAt(col, "a closing '\"' for the phrase started here")
}

// lexWord reads the word starting with r at q[i] (column col): a keyword
// (AND, OR, NOT) or a plain word, and the index and column after it. A word
// that starts with a digit keeps its colons: times (2026-11-23T10:00:00Z),
// MAC addresses.
func lexWord(q string, i, col int, r rune) (token, int, int, error) {
	j, c := i, col
	for j < len(q) {
		r2, s2 := utf8.DecodeRuneInString(q[j:])
		if r2 == utf8.RuneError && s2 == 1 {
			return token{}, 0, 0, errAt(c, "the query is not valid UTF-8")
		}
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
	return token{kind: k, text: w, col: col}, j, c, nil
}
