package detect

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/fielderr"
)

// Bounds of a rule's labels and of every label value an alert carries.
const (
	MaxRuleLabels = 10
	MaxLabelValue = 256
	// maxGroupLabels bounds the group-by values an alert carries as labels.
	maxGroupLabels = 10
)

// reLabelName is a label name Alertmanager's routes and matchers take.
var reLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,62}$`)

// reservedLabels are set by nano on every detection's alert.
var reservedLabels = []string{contract.LabelAlertname, contract.LabelTenant, contract.LabelRuleID, contract.LabelSeverity}

// ValidSeverity reports whether s is a rule severity.
func ValidSeverity(s string) bool { return slices.Contains(contract.RuleSeverities, s) }

// ValidateLabels checks a rule's extra labels: at most MaxRuleLabels,
// names Alertmanager takes and nano does not set, values of 1 to
// MaxLabelValue bytes of printable UTF-8. Problems name the field labels.
func ValidateLabels(m map[string]string) error {
	if len(m) > MaxRuleLabels {
		return fielderr.New("labels", "at most %d labels, got %d", MaxRuleLabels, len(m))
	}
	var errs []error
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case !reLabelName.MatchString(k) || strings.HasPrefix(k, "__"):
			errs = append(errs, fielderr.New("labels", "%q is not a label name (letters, digits and _, not starting with a digit or __, at most 63)", k))
		case slices.Contains(reservedLabels, k):
			errs = append(errs, fielderr.New("labels", "%q is set by nano on every alert (%s)", k, strings.Join(reservedLabels, ", ")))
		case v == "" || len(v) > MaxLabelValue:
			errs = append(errs, fielderr.New("labels", "the value of %q must have 1 to %d bytes", k, MaxLabelValue))
		case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			errs = append(errs, fielderr.New("labels", "the value of %q must be printable UTF-8 (no control characters)", k))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// GroupValue is one group-by field of a stats rule and its value in a
// group that crossed the threshold.
type GroupValue struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// AlertLabels are the labels an alert of r for group carries in
// Alertmanager, its identity there: alertname (the rule's name),
// tenant, rule_id and severity, the rule's own labels, and each group-by
// field as a label (its name made a label name; group_<name> where that
// is taken).
func AlertLabels(r Rule, group []GroupValue) map[string]string {
	l := map[string]string{
		contract.LabelAlertname: labelValue(r.Name),
		contract.LabelTenant:    r.Tenant,
		contract.LabelRuleID:    strconv.FormatInt(r.ID, 10),
		contract.LabelSeverity:  r.Severity,
	}
	if l[contract.LabelSeverity] == "" {
		l[contract.LabelSeverity] = contract.RuleSeverities[0]
	}
	for k, v := range r.Labels {
		if !slices.Contains(reservedLabels, k) {
			l[k] = labelValue(v)
		}
	}
	for i, g := range group {
		if i == maxGroupLabels {
			break
		}
		name := labelName(g.Field)
		for _, taken := l[name]; taken; _, taken = l[name] {
			name = "group_" + name
		}
		l[name] = labelValue(g.Value)
	}
	return l
}

// labelName makes a field name ("user.id") a label name ("user_id").
func labelName(field string) string {
	var b strings.Builder
	for i, r := range field {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r >= '0' && r <= '9' && i > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 56 {
			break
		}
	}
	if b.Len() == 0 {
		return "group"
	}
	return b.String()
}

// labelValue bounds a value Alertmanager gets: valid UTF-8, at most
// MaxLabelValue bytes (ellipsis when cut).
func labelValue(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if len(v) <= MaxLabelValue {
		return v
	}
	cut := MaxLabelValue - len("…")
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
