package dashboard

import (
	"fmt"
	"strconv"
	"strings"
)

// This file reads just enough PromQL to find the names a query depends
// on: metric names, the label names of its selectors, and the label names
// of by, without, on, ignoring, group_left and group_right. It is not a
// PromQL parser (github.com/prometheus/prometheus would be a heavy
// dependency for that); it rejects what it does not understand, so that
// a query it cannot read fails the test instead of passing unchecked.

type tokKind int

const (
	tIdent  tokKind = iota // metric, label, function, keyword
	tString                // "…", '…' or `…`, unquoted
	tNumber                // numbers and durations: 0.99, 5m, 1e-3
	tVar                   // a Grafana variable: $x, ${x}, ${x:fmt}, [[x]]
	tPunct                 // ( ) { } [ ] ,
	tOp                    // operators: = != =~ !~ == < > <= >= + - * / % ^ @ :
)

type token struct {
	kind tokKind
	text string
}

func lex(s string) ([]token, error) {
	var out []token
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			raw := s[i : j+1]
			text := raw[1 : len(raw)-1]
			if c != '`' {
				// Grafana leaves a regex's backslashes to PromQL's string
				// rules; a label name never has one, so a failed unquote
				// only loses a value nobody checks.
				if c == '\'' {
					raw = `"` + strings.ReplaceAll(text, `"`, `\"`) + `"`
				}
				if u, err := strconv.Unquote(raw); err == nil {
					text = u
				}
			}
			out = append(out, token{tString, text})
			i = j + 1
		case c == '$':
			j := i + 1
			if j < len(s) && s[j] == '{' {
				k := strings.IndexByte(s[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unterminated ${ at %d", i)
				}
				j += k + 1
			} else {
				for j < len(s) && isIdent(s[j]) && s[j] != ':' {
					j++
				}
			}
			if j == i+1 {
				return nil, fmt.Errorf("lone $ at %d", i)
			}
			out = append(out, token{tVar, s[i:j]})
			i = j
		case strings.HasPrefix(s[i:], "[["):
			k := strings.Index(s[i:], "]]")
			if k < 0 {
				return nil, fmt.Errorf("unterminated [[ at %d", i)
			}
			out = append(out, token{tVar, s[i : i+k+2]})
			i += k + 2
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && (isIdent(s[j]) && s[j] != ':' || s[j] == '.' ||
				(s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E') && !strings.HasPrefix(s[i:], "0x")) {
				j++
			}
			out = append(out, token{tNumber, s[i:j]})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			out = append(out, token{tIdent, s[i:j]})
			i = j
		case strings.ContainsRune("(){}[],", rune(c)):
			out = append(out, token{tPunct, string(c)})
			i++
		default:
			op := ""
			for _, o := range []string{"=~", "!~", "!=", "==", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", "^", "@"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
			out = append(out, token{tOp, op})
			i += len(op)
		}
	}
	return out, nil
}

// aggregations are PromQL's aggregation operators: they take by/without.
var aggregations = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
	"bottomk", "topk", "quantile", "limitk", "limit_ratio")

// functions are PromQL's functions (Prometheus 3), and start() and end()
// of the @ modifier.
var functions = set("abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
	"avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time",
	"days_in_month", "day_of_month", "day_of_week", "day_of_year", "deg", "delta", "deriv", "double_exponential_smoothing",
	"exp", "first_over_time", "floor", "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile",
	"histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "info",
	"irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time",
	"min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time", "quantile_over_time", "rad",
	"rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc",
	"sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp",
	"ts_of_first_over_time", "ts_of_last_over_time", "ts_of_max_over_time", "ts_of_min_over_time", "vector", "year",
	"start", "end")

// keywords are the words that are neither metrics nor functions.
var keywords = set("by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
	"unless", "atan2", "inf", "nan")

func set(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, x := range s {
		m[x] = true
	}
	return m
}

// ref is one metric a query selects, with the label names its selector
// matches on.
type ref struct {
	metric string
	labels []string
	at     int // token index, for the scope of by/without
}

// grouping is a label list: by/without, whose labels must be on a metric
// the aggregation reads (tokens from..to), or on/ignoring/group_*, whose
// labels must be on a metric of the query (from = -1).
type grouping struct {
	keyword  string
	labels   []string
	from, to int
}

// analysis is what a query names.
type analysis struct {
	refs      []ref
	groupings []grouping
	// defined are labels the query makes: label_replace's and
	// label_join's destination, count_values' label.
	defined []string
}

// analyze reads one PromQL expression.
func analyze(expr string) (*analysis, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty expression")
	}
	match, err := matchBrackets(toks)
	if err != nil {
		return nil, err
	}
	a := &analysis{}
	isAgg := func(i int) bool {
		return i >= 0 && toks[i].kind == tIdent && aggregations[strings.ToLower(toks[i].text)]
	}
	open := func(i int, b string) bool { return i < len(toks) && toks[i].kind == tPunct && toks[i].text == b }
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case tPunct:
			switch t.text {
			case "[":
				i = match[i] // a range or subquery: durations and variables
			case "{":
				r, err := selector(toks, i, match[i], "")
				if err != nil {
					return nil, err
				}
				if r.metric == "" {
					return nil, fmt.Errorf("selector %s names no metric", join(toks[i:match[i]+1]))
				}
				a.refs = append(a.refs, r)
				i = match[i]
			}
		case tVar:
			if open(i+1, "{") || open(i+1, "[") {
				return nil, fmt.Errorf("dashboard variable %s in place of a metric name", t.text)
			}
		case tIdent:
			low := strings.ToLower(t.text)
			switch {
			case low == "by" || low == "without":
				if !open(i+1, "(") {
					return nil, fmt.Errorf("%s without a label list", t.text)
				}
				labels, err := labelList(toks, i+1, match[i+1])
				if err != nil {
					return nil, err
				}
				var from, to int
				switch {
				case isAgg(i - 1): // sum by (x) (…)
					if !open(match[i+1]+1, "(") {
						return nil, fmt.Errorf("%s %s: no argument after the label list", toks[i-1].text, t.text)
					}
					from, to = match[i+1]+1, match[match[i+1]+1]
				case i > 0 && toks[i-1].text == ")" && isAgg(match[i-1]-1): // sum(…) by (x)
					from, to = match[i-1], i-1
				default:
					return nil, fmt.Errorf("%s outside an aggregation", t.text)
				}
				a.groupings = append(a.groupings, grouping{low, labels, from, to})
				i = match[i+1]
			case low == "on" || low == "ignoring" || low == "group_left" || low == "group_right":
				if !open(i+1, "(") {
					if low == "on" || low == "ignoring" {
						return nil, fmt.Errorf("%s without a label list", t.text)
					}
					continue
				}
				labels, err := labelList(toks, i+1, match[i+1])
				if err != nil {
					return nil, err
				}
				a.groupings = append(a.groupings, grouping{low, labels, -1, -1})
				i = match[i+1]
			case keywords[low]:
				if low == "offset" && i+1 < len(toks) && toks[i+1].kind == tOp && toks[i+1].text == "-" {
					i++
				}
			case aggregations[low] && i+1 < len(toks) && toks[i+1].kind == tIdent &&
				(strings.EqualFold(toks[i+1].text, "by") || strings.EqualFold(toks[i+1].text, "without")):
				// sum by (…) (…): the by clause is read next.
			case open(i+1, "("):
				if !functions[low] && !aggregations[low] {
					return nil, fmt.Errorf("unknown function %s", t.text)
				}
				if d, ok := definedLabel(toks, low, i+1, match[i+1]); ok {
					a.defined = append(a.defined, d)
				}
			default: // a metric name, perhaps with a selector
				r := ref{metric: t.text, at: i}
				if open(i+1, "{") {
					if r, err = selector(toks, i+1, match[i+1], t.text); err != nil {
						return nil, err
					}
					r.at = i
					i = match[i+1]
				}
				a.refs = append(a.refs, r)
			}
		}
	}
	return a, nil
}

// matchBrackets pairs each bracket with its partner.
func matchBrackets(toks []token) (map[int]int, error) {
	match := map[int]int{}
	var stack []int
	pair := map[string]string{")": "(", "}": "{", "]": "["}
	for i, t := range toks {
		if t.kind != tPunct {
			continue
		}
		switch t.text {
		case "(", "{", "[":
			stack = append(stack, i)
		case ")", "}", "]":
			if len(stack) == 0 || toks[stack[len(stack)-1]].text != pair[t.text] {
				return nil, fmt.Errorf("unbalanced %s", t.text)
			}
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			match[i], match[j] = j, i
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("unbalanced %s", toks[stack[len(stack)-1]].text)
	}
	return match, nil
}

// selector reads {…} from toks[from] to toks[to]: matchers label op
// "value", and the metric name as __name__="x" or a bare "x".
func selector(toks []token, from, to int, metric string) (ref, error) {
	r := ref{metric: metric}
	for i := from + 1; i < to; {
		t := toks[i]
		if t.kind == tString && i+1 <= to && (toks[i+1].text == "," || i+1 == to) {
			if r.metric != "" {
				return r, fmt.Errorf("selector names two metrics, %s and %s", r.metric, t.text)
			}
			r.metric = t.text
			i += 2
			continue
		}
		if t.kind != tIdent && t.kind != tString || i+2 >= to+1 || toks[i+1].kind != tOp || toks[i+2].kind != tString {
			return r, fmt.Errorf("cannot read matcher at %q in %s", t.text, join(toks[from:to+1]))
		}
		switch op := toks[i+1].text; op {
		case "=", "!=", "=~", "!~":
			if t.text == "__name__" {
				if op != "=" || r.metric != "" {
					return r, fmt.Errorf("__name__%s%q: only one name, matched with =, can be checked", op, toks[i+2].text)
				}
				r.metric = toks[i+2].text
			} else {
				r.labels = append(r.labels, t.text)
			}
		default:
			return r, fmt.Errorf("matcher operator %s", op)
		}
		i += 3
		if i < to {
			if toks[i].text != "," {
				return r, fmt.Errorf("cannot read selector %s", join(toks[from:to+1]))
			}
			i++
		}
	}
	return r, nil
}

// labelList reads (a, b, "c") from toks[from] to toks[to].
func labelList(toks []token, from, to int) ([]string, error) {
	var out []string
	for i := from + 1; i < to; i++ {
		t := toks[i]
		if t.kind != tIdent && t.kind != tString {
			return nil, fmt.Errorf("cannot read label list %s", join(toks[from:to+1]))
		}
		out = append(out, t.text)
		if i+1 < to {
			if toks[i+1].text != "," {
				return nil, fmt.Errorf("cannot read label list %s", join(toks[from:to+1]))
			}
			i++
		}
	}
	return out, nil
}

// definedLabel is the label label_replace or label_join writes (their
// second argument) or count_values counts by (its first).
func definedLabel(toks []token, fn string, from, to int) (string, bool) {
	arg := 0
	switch fn {
	case "label_replace", "label_join":
		arg = 1
	case "count_values":
	default:
		return "", false
	}
	depth, n := 0, 0
	for i := from + 1; i < to; i++ {
		switch t := toks[i]; {
		case t.kind == tPunct && (t.text == "(" || t.text == "{" || t.text == "["):
			depth++
		case t.kind == tPunct && (t.text == ")" || t.text == "}" || t.text == "]"):
			depth--
		case depth == 0 && t.text == ",":
			n++
		case depth == 0 && n == arg && t.kind == tString:
			return t.text, true
		}
	}
	return "", false
}

func join(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind == tString {
			b.WriteString(strconv.Quote(t.text))
		} else {
			b.WriteString(t.text)
		}
	}
	return b.String()
}
