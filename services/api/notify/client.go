// Package notify delivers detections' alerts to Prometheus's Alertmanager
// and manages its silences, through Alertmanager's own v2 API client and
// models: the api leader posts every open alert (again while it stays
// open) and its end once acknowledged or closed; Alertmanager groups,
// deduplicates, silences and routes them to the receivers the deployment
// configured.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/receiver"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// maxMembers bounds NANO_ALERTMANAGER_URLS.
const maxMembers = 5

// Client talks to every member of an Alertmanager cluster (one on the
// single-instance tiers).
type Client struct {
	members []member
	timeout time.Duration
}

type member struct {
	url string
	api *amclient.AlertmanagerAPI
}

// ParseURLs reads NANO_ALERTMANAGER_URLS: comma-separated http(s) base
// URLs without query, fragment or credentials.
func ParseURLs(s string) ([]*url.URL, error) {
	var out []*url.URL
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%q is not a URL: %w", raw, err)
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			return nil, fmt.Errorf("%q is not an http(s) URL like http://alertmanager:9093", raw)
		case u.User != nil, u.RawQuery != "", u.Fragment != "":
			return nil, fmt.Errorf("%q: a base URL takes no credentials, query or fragment", raw)
		}
		out = append(out, u)
	}
	if len(out) > maxMembers {
		return nil, fmt.Errorf("%d Alertmanagers, at most %d", len(out), maxMembers)
	}
	return out, nil
}

// NewClient returns a client of the Alertmanagers at urls; each call is
// bounded by timeout.
func NewClient(urls []*url.URL, timeout time.Duration) *Client {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{
		Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute, ResponseHeaderTimeout: timeout,
	}}
	c := &Client{timeout: timeout}
	for _, u := range urls {
		base := strings.TrimSuffix(u.Path, "/") + amclient.DefaultBasePath
		rt := httptransport.NewWithClient(u.Host, base, []string{u.Scheme}, hc)
		c.members = append(c.members, member{url: u.Redacted(), api: amclient.New(rt, strfmt.Default)})
	}
	return c
}

// Refused is Alertmanager's answer to a request it does not take (a bad
// silence), its own message.
type Refused struct{ Msg string }

func (e *Refused) Error() string { return "Alertmanager refused it: " + strings.TrimSpace(e.Msg) }

// ErrNotFound is an id Alertmanager does not know.
var ErrNotFound = errors.New("not found in Alertmanager")

// Post sends alerts to every member at once (each member then notifies
// or defers to its peers): it succeeds when one accepted them, and
// reports the members that did not.
func (c *Client) Post(ctx context.Context, alerts models.PostableAlerts) (accepted int, err error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, m := range c.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			_, err := m.api.Alert.PostAlerts(alert.NewPostAlertsParamsWithContext(ctx).WithAlerts(alerts))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", m.url, answer(err)))
				return
			}
			accepted++
		}()
	}
	wg.Wait()
	return accepted, errors.Join(errs...)
}

// first runs f on the members in turn until one answers (a refusal is an
// answer).
func (c *Client) first(ctx context.Context, f func(ctx context.Context, api *amclient.AlertmanagerAPI) error) error {
	var errs []error
	for _, m := range c.members {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		err := answer(f(cctx, m.api))
		cancel()
		var refused *Refused
		if err == nil || errors.As(err, &refused) || errors.Is(err, ErrNotFound) {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.url, err))
	}
	if len(errs) == 0 {
		return errors.New("no Alertmanager is configured")
	}
	return fmt.Errorf("cannot reach Alertmanager: %w", errors.Join(errs...))
}

// answer makes the client's typed error responses errors of this package.
func answer(err error) error {
	var (
		badSilence *silence.PostSilencesBadRequest
		noSilence  *silence.PostSilencesNotFound
		badAlerts  *alert.PostAlertsBadRequest
		getMissing *silence.GetSilenceNotFound
		delMissing *silence.DeleteSilenceNotFound
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &badSilence):
		return &Refused{Msg: badSilence.Payload}
	case errors.As(err, &noSilence):
		return &Refused{Msg: noSilence.Payload}
	case errors.As(err, &badAlerts):
		return &Refused{Msg: badAlerts.Payload}
	case errors.As(err, &getMissing), errors.As(err, &delMissing):
		return ErrNotFound
	}
	return err
}

// Alerts are the alerts Alertmanager holds whose labels match filter
// (matchers such as tenant="acme"), with their state (active,
// suppressed by silences or inhibitions) and receivers.
func (c *Client) Alerts(ctx context.Context, filter ...string) ([]*models.GettableAlert, error) {
	var out []*models.GettableAlert
	err := c.first(ctx, func(ctx context.Context, api *amclient.AlertmanagerAPI) error {
		ok, err := api.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx).WithFilter(filter))
		if err == nil {
			out = ok.Payload
		}
		return err
	})
	return out, err
}

// Receivers are the names of the configured receivers.
func (c *Client) Receivers(ctx context.Context) ([]string, error) {
	var out []string
	err := c.first(ctx, func(ctx context.Context, api *amclient.AlertmanagerAPI) error {
		ok, err := api.Receiver.GetReceivers(receiver.NewGetReceiversParamsWithContext(ctx))
		if err != nil {
			return err
		}
		for _, r := range ok.Payload {
			if r != nil && r.Name != nil {
				out = append(out, *r.Name)
			}
		}
		return nil
	})
	return out, err
}

// Silences are the silences whose matchers match filter.
func (c *Client) Silences(ctx context.Context, filter ...string) ([]*models.GettableSilence, error) {
	var out []*models.GettableSilence
	err := c.first(ctx, func(ctx context.Context, api *amclient.AlertmanagerAPI) error {
		ok, err := api.Silence.GetSilences(silence.NewGetSilencesParamsWithContext(ctx).WithFilter(filter))
		if err == nil {
			out = ok.Payload
		}
		return err
	})
	return out, err
}

// Silence is one silence by its id.
func (c *Client) Silence(ctx context.Context, id strfmt.UUID) (*models.GettableSilence, error) {
	var out *models.GettableSilence
	err := c.first(ctx, func(ctx context.Context, api *amclient.AlertmanagerAPI) error {
		ok, err := api.Silence.GetSilence(silence.NewGetSilenceParamsWithContext(ctx).WithSilenceID(id))
		if err == nil {
			out = ok.Payload
		}
		return err
	})
	return out, err
}

// CreateSilence stores s and answers its id.
func (c *Client) CreateSilence(ctx context.Context, s *models.PostableSilence) (string, error) {
	var id string
	err := c.first(ctx, func(ctx context.Context, api *amclient.AlertmanagerAPI) error {
		ok, err := api.Silence.PostSilences(silence.NewPostSilencesParamsWithContext(ctx).WithSilence(s))
		if err == nil && ok.Payload != nil {
			id = ok.Payload.SilenceID
		}
		return err
	})
	return id, err
}

// ExpireSilence ends a silence now.
func (c *Client) ExpireSilence(ctx context.Context, id strfmt.UUID) error {
	return c.first(ctx, func(ctx context.Context, api *amclient.AlertmanagerAPI) error {
		_, err := api.Silence.DeleteSilence(silence.NewDeleteSilenceParamsWithContext(ctx).WithSilenceID(id))
		return err
	})
}
