package server

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/nanosiem/nano/services/api/notify"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/jsonhttp"
)

// The tenant's view of Alertmanager: whether alerts are sent anywhere,
// the state of its alerts there, and its silences. The browser never
// talks to Alertmanager: the api does, for one tenant at a time, and
// every silence it makes carries the tenant's matcher.

// DeliveryStatus is GET /v1/delivery.
type DeliveryStatus struct {
	// Enabled: the api posts alerts to Alertmanager
	// (NANO_ALERTMANAGER_URLS); Configured: Alertmanager has receivers
	// (nano:alertmanagerConfig is set). Without both, alerts stay in nano.
	Enabled    bool     `json:"enabled"`
	Configured bool     `json:"configured"`
	Receivers  []string `json:"receivers"`
	// Message says, in words, where alerts go.
	Message string `json:"message"`
	// Alerts are the tenant's alerts Alertmanager holds now.
	Alerts []AMAlert `json:"alerts"`
	// Error is why Alertmanager did not answer.
	Error string `json:"error,omitempty"`
}

// AMAlert is one alert as Alertmanager holds it: State is active,
// suppressed (silenced or inhibited) or unprocessed.
type AMAlert struct {
	Labels     map[string]string `json:"labels"`
	State      string            `json:"state"`
	SilencedBy []string          `json:"silenced_by"`
	Receivers  []string          `json:"receivers"`
	StartsAt   time.Time         `json:"starts_at"`
	EndsAt     time.Time         `json:"ends_at"`
}

func tenantFilter(tenant string) string {
	return fmt.Sprintf("%s=%q", contract.LabelTenant, tenant)
}

func (s *Server) deliveryStatus(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	out := DeliveryStatus{Receivers: []string{}, Alerts: []AMAlert{}}
	if s.Alertmanager == nil {
		out.Message = "Alerts are not sent anywhere: this api has no Alertmanager (" + contract.AlertmanagerURLs + " is unset); they are kept in nano only."
		jsonhttp.Reply(w, http.StatusOK, out)
		return
	}
	out.Enabled = true
	receivers, err := s.Alertmanager.Receivers(r.Context())
	if err != nil {
		out.Error = err.Error()
		out.Message = "Alertmanager does not answer: alerts wait in nano and are posted when it does."
		jsonhttp.Reply(w, http.StatusOK, out)
		return
	}
	// Configured: a receiver other than nano's default exists. The names
	// listed are those the tenant's own alerts were routed to (another
	// tenant's receivers are none of its business).
	for _, name := range receivers {
		out.Configured = out.Configured || name != contract.UnconfiguredReceiver
	}
	alerts, err := s.Alertmanager.Alerts(r.Context(), tenantFilter(p.Tenant))
	if err != nil {
		out.Error = err.Error()
	}
	for _, a := range alerts {
		if a == nil || a.Labels[contract.LabelTenant] != p.Tenant {
			continue
		}
		x := AMAlert{Labels: map[string]string(a.Labels), SilencedBy: []string{}, Receivers: []string{}}
		if a.Status != nil {
			x.State = deref(a.Status.State)
			x.SilencedBy = append(x.SilencedBy, a.Status.SilencedBy...)
		}
		for _, rr := range a.Receivers {
			if rr == nil {
				continue
			}
			if name := deref(rr.Name); name != contract.UnconfiguredReceiver {
				x.Receivers = append(x.Receivers, name)
				if !slices.Contains(out.Receivers, name) {
					out.Receivers = append(out.Receivers, name)
				}
			}
		}
		if a.StartsAt != nil {
			x.StartsAt = time.Time(*a.StartsAt)
		}
		if a.EndsAt != nil {
			x.EndsAt = time.Time(*a.EndsAt)
		}
		out.Alerts = append(out.Alerts, x)
	}
	slices.Sort(out.Receivers)
	switch {
	case !out.Configured:
		out.Message = "Alerts are not sent anywhere: Alertmanager has no receivers (the deployment's nano:alertmanagerConfig is unset)."
	case len(out.Receivers) > 0:
		out.Message = "Alerts go to Alertmanager, which routes them to: " + strings.Join(out.Receivers, ", ") + "."
	default:
		out.Message = "Alerts go to Alertmanager, which routes them to the deployment's receivers."
	}
	jsonhttp.Reply(w, http.StatusOK, out)
}

// Silence is a silence of the tenant's alerts.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	// State is active, pending (starts later) or expired.
	State string `json:"state"`
}

// Matcher selects alerts by a label: equal (or not) to Value, or
// matching it as a regular expression.
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"is_regex"`
	IsEqual *bool  `json:"is_equal,omitempty"`
}

// silenceBody is a new silence: its matchers (the api adds the tenant's),
// its end (or a duration from its start) and why.
type silenceBody struct {
	Matchers []Matcher  `json:"matchers"`
	StartsAt *time.Time `json:"starts_at"`
	EndsAt   *time.Time `json:"ends_at"`
	// Duration is a Go duration ("2h") used when EndsAt is not given.
	Duration string `json:"duration"`
	Comment  string `json:"comment"`
}

// Bounds of a silence.
const (
	maxMatchers       = 10
	maxMatcherValue   = 1024
	maxSilenceComment = 1000
	maxSilence        = 90 * 24 * time.Hour
)

var reMatcherName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,62}$`)

func (b *silenceBody) validate(now time.Time) (*models.PostableSilence, error) {
	switch {
	case len(b.Matchers) == 0 || len(b.Matchers) > maxMatchers:
		return nil, bad("matchers", "1 to %d matchers", maxMatchers)
	case strings.TrimSpace(b.Comment) == "" || len(b.Comment) > maxSilenceComment || !utf8.ValidString(b.Comment):
		return nil, bad("comment", "why the silence: 1 to %d bytes", maxSilenceComment)
	}
	starts := now
	if b.StartsAt != nil {
		if b.StartsAt.Before(now.Add(-time.Minute)) || b.StartsAt.After(now.Add(maxSilence)) {
			return nil, bad("starts_at", "now or a time within %d days", int(maxSilence.Hours()/24))
		}
		starts = *b.StartsAt
	}
	var ends time.Time
	switch {
	case b.EndsAt != nil:
		ends = *b.EndsAt
	case b.Duration != "":
		d, err := time.ParseDuration(b.Duration)
		if err != nil || d <= 0 {
			return nil, bad("duration", "a duration such as 30m or 2h")
		}
		ends = starts.Add(d)
	default:
		return nil, bad("ends_at", "required (or duration)")
	}
	if !ends.After(starts) || !ends.After(now) || ends.Sub(starts) > maxSilence {
		return nil, bad("ends_at", "after the start and now, at most %d days after the start", int(maxSilence.Hours()/24))
	}
	var ms models.Matchers
	for _, m := range b.Matchers {
		switch {
		case !reMatcherName.MatchString(m.Name):
			return nil, bad("matchers", "%q is not a label name", m.Name)
		case m.Name == contract.LabelTenant:
			return nil, bad("matchers", "the tenant is yours: the api adds tenant=<your tenant> to every silence")
		case len(m.Value) > maxMatcherValue || !utf8.ValidString(m.Value):
			return nil, bad("matchers", "the value of %q: at most %d bytes of UTF-8", m.Name, maxMatcherValue)
		}
		if m.IsRegex {
			if _, err := regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
				return nil, bad("matchers", "the regular expression of %q: %v", m.Name, err)
			}
		}
		equal := m.IsEqual == nil || *m.IsEqual
		ms = append(ms, &models.Matcher{Name: ptr(m.Name), Value: ptr(m.Value), IsRegex: ptr(m.IsRegex), IsEqual: ptr(equal)})
	}
	return &models.PostableSilence{Silence: models.Silence{
		Matchers: ms, StartsAt: dt(starts), EndsAt: dt(ends), Comment: ptr(b.Comment),
	}}, nil
}

// errNoAlertmanager answers the silence routes of an api without one.
var errNoAlertmanager = errors.New("alerts are not sent anywhere: this api has no Alertmanager (" + contract.AlertmanagerURLs + " is unset)")

func (s *Server) alertingError(w http.ResponseWriter, err error) {
	var refused *notify.Refused
	switch {
	case errors.Is(err, errNoAlertmanager):
		fail(w, http.StatusServiceUnavailable, "", err.Error())
	case errors.As(err, &refused):
		fail(w, http.StatusBadRequest, "matchers", refused.Error())
	case errors.Is(err, notify.ErrNotFound), errors.Is(err, errNotFound):
		fail(w, http.StatusNotFound, "", "not found")
	default:
		s.Log.Error("alertmanager", "error", err)
		fail(w, http.StatusServiceUnavailable, "", "Alertmanager cannot answer now; retry")
	}
}

// tenantMatcher is the matcher every silence made through the api has.
func tenantMatcher(tenant string) *models.Matcher {
	return &models.Matcher{Name: ptr(contract.LabelTenant), Value: ptr(tenant), IsRegex: ptr(false), IsEqual: ptr(true)}
}

// ownedBy reports whether a silence is the tenant's: among its matchers
// is tenant equal to it, exactly (so it silences none of another's).
func ownedBy(sil *models.GettableSilence, tenant string) bool {
	if sil == nil {
		return false
	}
	return slices.ContainsFunc(sil.Matchers, func(m *models.Matcher) bool {
		return m != nil && deref(m.Name) == contract.LabelTenant && deref(m.Value) == tenant &&
			(m.IsRegex == nil || !*m.IsRegex) && (m.IsEqual == nil || *m.IsEqual)
	})
}

func silenceOf(g *models.GettableSilence) Silence {
	out := Silence{ID: deref(g.ID), Matchers: []Matcher{}, CreatedBy: deref(g.CreatedBy), Comment: deref(g.Comment)}
	for _, m := range g.Matchers {
		if m == nil {
			continue
		}
		equal := m.IsEqual == nil || *m.IsEqual
		out.Matchers = append(out.Matchers, Matcher{Name: deref(m.Name), Value: deref(m.Value), IsRegex: m.IsRegex != nil && *m.IsRegex, IsEqual: &equal})
	}
	if g.StartsAt != nil {
		out.StartsAt = time.Time(*g.StartsAt)
	}
	if g.EndsAt != nil {
		out.EndsAt = time.Time(*g.EndsAt)
	}
	if g.Status != nil {
		out.State = deref(g.Status.State)
	}
	return out
}

func (s *Server) listSilences(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	if s.Alertmanager == nil {
		s.alertingError(w, errNoAlertmanager)
		return
	}
	all, err := s.Alertmanager.Silences(r.Context(), tenantFilter(p.Tenant))
	if err != nil {
		s.alertingError(w, err)
		return
	}
	out := list[Silence]{Items: []Silence{}}
	for _, g := range all {
		if ownedBy(g, p.Tenant) {
			out.Items = append(out.Items, silenceOf(g))
		}
	}
	// The newest first.
	slices.SortFunc(out.Items, func(a, b Silence) int { return b.StartsAt.Compare(a.StartsAt) })
	jsonhttp.Reply(w, http.StatusOK, out)
}

func (s *Server) createSilence(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b silenceBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	sil, err := b.validate(time.Now())
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	if s.Alertmanager == nil {
		s.alertingError(w, errNoAlertmanager)
		return
	}
	if p.Tenant == contract.PlatformTenant {
		fail(w, http.StatusForbidden, "", "the platform's alerts are silenced in Alertmanager itself")
		return
	}
	sil.Matchers = append(models.Matchers{tenantMatcher(p.Tenant)}, sil.Matchers...)
	sil.CreatedBy = ptr(fmt.Sprintf("nano token %d", p.TokenID))
	id, err := s.Alertmanager.CreateSilence(r.Context(), sil)
	if err != nil {
		s.alertingError(w, err)
		return
	}
	g, err := s.Alertmanager.Silence(r.Context(), strfmt.UUID(id))
	if err != nil {
		s.alertingError(w, err)
		return
	}
	s.Log.Info("silence created", "tenant", p.Tenant, "token", p.TokenID, "silence", id)
	jsonhttp.Reply(w, http.StatusCreated, silenceOf(g))
}

var reUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func (s *Server) expireSilence(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id := r.PathValue("id")
	if !reUUID.MatchString(id) {
		s.respond(w, 0, nil, bad("id", "a silence id (a UUID)"))
		return
	}
	if s.Alertmanager == nil {
		s.alertingError(w, errNoAlertmanager)
		return
	}
	g, err := s.Alertmanager.Silence(r.Context(), strfmt.UUID(id))
	if err == nil && !ownedBy(g, p.Tenant) {
		// Another tenant's silence does not exist for this one.
		err = errNotFound
	}
	if err == nil {
		err = s.Alertmanager.ExpireSilence(r.Context(), strfmt.UUID(id))
	}
	if err != nil {
		s.alertingError(w, err)
		return
	}
	s.Log.Info("silence expired", "tenant", p.Tenant, "token", p.TokenID, "silence", id)
	w.WriteHeader(http.StatusNoContent)
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func dt(t time.Time) *strfmt.DateTime {
	d := strfmt.DateTime(t)
	return &d
}
