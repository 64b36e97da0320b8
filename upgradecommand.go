package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/services/provision"
)

const upgradeUsage = `usage:
  nano upgrade -f REQUEST.json DEPLOYMENT   upgrade DEPLOYMENT into a new deployment of a higher tier, following its steps
  nano upgrade -complete DEPLOYMENT         complete the upgrade into DEPLOYMENT: move the last events, destroy the old one
REQUEST.json is POST /v1/deployments/{name}/upgrade's body (docs/operate/tier-upgrades.md); - reads it from stdin.`

// upgradeCommand is `nano upgrade`, a client of the provisioning endpoint
// on its own types (provision.UpgradeRequest, OperationReply, ErrorBody):
// it starts a deployment's upgrade (or its completion) and follows the
// operation's steps until it ends, through a restart of the endpoint (the
// operation that resumes it). A refusal (4xx) ends it at once with the
// endpoint's problems; transport errors, 5xx and a busy deployment's 409
// are retried with backoff for at most -retry-for. Its exit status is the
// operation's.
func upgradeCommand(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("upgrade", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() { fmt.Fprintln(w, upgradeUsage); fs.PrintDefaults() }
	endpoint := fs.String("endpoint", envOr("NANO_PROVISION_URL", "http://127.0.0.1:8090"), "the provisioning endpoint (NANO_PROVISION_URL)")
	tokenFile := fs.String("token-file", os.Getenv("NANO_PROVISION_TOKEN_FILE"), "file holding the endpoint's token; NANO_PROVISION_TOKEN wins; default <data-dir>/api-token (NANO_PROVISION_TOKEN_FILE)")
	request := fs.String("f", "", "the upgrade request (JSON), - for stdin")
	complete := fs.Bool("complete", false, "complete the upgrade into DEPLOYMENT")
	timeout := fs.Duration("timeout", 24*time.Hour, "stop following after this long (the operation goes on)")
	retryFor := fs.Duration("retry-for", 10*time.Minute, "give up a request the endpoint cannot answer (transport errors, 5xx, a busy deployment) after retrying it this long")
	caFile := fs.String("cacert", os.Getenv("NANO_PROVISION_CA_FILE"), "PEM CA certificate(s) to trust for an https endpoint whose certificate no system CA signed (NANO_PROVISION_CA_FILE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return cli.UsageError{Err: err}
	}
	if fs.NArg() != 1 || (*request == "") == !*complete {
		return cli.UsageError{Err: errors.New(upgradeUsage)}
	}
	if *retryFor <= 0 || *timeout <= 0 {
		return cli.UsageError{Err: errors.New("-retry-for and -timeout: give a positive duration")}
	}
	token, err := endpointToken(*tokenFile)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-cacert: %s holds no PEM certificate", *caFile)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	c := &endpointClient{base: strings.TrimSuffix(*endpoint, "/"), token: token, http: client, retryFor: *retryFor,
		firstWait: 500 * time.Millisecond, poll: time.Second, log: w}
	name := fs.Arg(0)
	path, body := "/v1/deployments/"+url.PathEscape(name)+"/upgrade/complete", []byte(nil)
	if !*complete {
		path = "/v1/deployments/" + url.PathEscape(name) + "/upgrade"
		if body, err = upgradeRequest(*request); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var started provision.OperationReply
	if err := c.call(ctx, http.MethodPost, path, body, http.StatusAccepted, &started); err != nil {
		return err
	}
	if started.Operation == nil {
		return fmt.Errorf("POST %s: the endpoint answered no operation", path)
	}
	id := started.Operation.ID
	fmt.Fprintf(w, "operation %s started (GET /v1/operations/%s)\n", id, id)
	return c.follow(ctx, w, id)
}

// upgradeRequest reads REQUEST.json (- for stdin) as the endpoint's
// provision.UpgradeRequest, refusing what the endpoint would refuse as not
// JSON or with unknown fields before sending it.
func upgradeRequest(file string) ([]byte, error) {
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, provision.MaxBodyBytes+1))
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("-f: %w", err)
	}
	if len(raw) > provision.MaxBodyBytes {
		return nil, fmt.Errorf("-f %s: over the endpoint's %d bytes", file, provision.MaxBodyBytes)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	var req provision.UpgradeRequest
	if err := d.Decode(&req); err != nil {
		return nil, fmt.Errorf("-f %s: not an upgrade request: %w", file, err)
	}
	return json.Marshal(req)
}

// endpointClient talks to the provisioning endpoint with its token.
type endpointClient struct {
	base, token string
	http        *http.Client
	// retryFor bounds the time one request is retried; firstWait is the
	// first pause (doubling, at most 30 s); poll is how often a running
	// operation is read.
	retryFor, firstWait, poll time.Duration
	log                       io.Writer
}

// endpointError is an answer other than the one wanted: its status and
// the endpoint's problems.
type endpointError struct {
	method, path string
	status       int
	body         provision.ErrorBody
}

func (e *endpointError) Error() string {
	return fmt.Sprintf("%s %s: %d %s\n  %s", e.method, e.path, e.status, http.StatusText(e.status),
		strings.ReplaceAll(e.body.Error(), "\n", "\n  "))
}

// retryable says whether asking again may succeed: the endpoint failed
// (5xx), or the deployment is busy with an operation (409 naming it).
// Every other 4xx is a refusal: the same request would get the same.
func (e *endpointError) retryable() bool {
	return e.status >= 500 || (e.status == http.StatusConflict && e.body.Operation != "")
}

// call sends a request until it gets status want (decoded into out), a
// refusal (returned at once) or c.retryFor has passed retrying transport
// errors, 5xx and a busy deployment, with exponential backoff.
func (c *endpointClient) call(ctx context.Context, method, path string, body []byte, want int, out any) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = c.firstWait, 30*time.Second
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := c.once(ctx, method, path, body, want, out)
		var ee *endpointError
		if errors.As(err, &ee) && !ee.retryable() {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(c.retryFor), backoff.WithNotify(func(err error, d time.Duration) {
		fmt.Fprintf(c.log, "%v\n(retrying in %s)\n", err, d.Round(time.Millisecond))
	}))
	return err
}

// once sends one request.
func (c *endpointClient) once(ctx context.Context, method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == want {
		if err := json.Unmarshal(raw, out); err != nil {
			return backoff.Permanent(fmt.Errorf("%s %s: cannot read the answer: %w", method, path, err))
		}
		return nil
	}
	e := &endpointError{method: method, path: path, status: resp.StatusCode}
	if json.Unmarshal(raw, &e.body) != nil || len(e.body.Errors) == 0 {
		// Not the endpoint's envelope: a proxy's page.
		e.body.Errors = []provision.Problem{{Message: fmt.Sprintf("%.300s", strings.TrimSpace(string(raw)))}}
	}
	return e
}

// follow prints an operation's steps as they change until it ends, and
// follows the operation that resumes it after an interruption.
func (c *endpointClient) follow(ctx context.Context, w io.Writer, id string) error {
	printed := map[string]bool{}
	var interrupted time.Time
	for {
		var got provision.OperationReply
		if err := c.call(ctx, http.MethodGet, "/v1/operations/"+url.PathEscape(id), nil, http.StatusOK, &got); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stopped following operation %s (it goes on: GET /v1/operations/%s): %w", id, id, ctx.Err())
			}
			return fmt.Errorf("cannot follow operation %s (it goes on: GET /v1/operations/%s): %w", id, id, err)
		}
		op := got.Operation
		if op == nil {
			return fmt.Errorf("GET /v1/operations/%s: the endpoint answered no operation", id)
		}
		for _, s := range op.Steps {
			line := fmt.Sprintf("%s: %s %s", s.Name, s.State, s.Detail)
			if !printed[line] {
				printed[line] = true
				fmt.Fprintln(w, strings.TrimSpace(line))
			}
		}
		switch {
		case op.ResumedBy != "":
			fmt.Fprintf(w, "operation %s was interrupted; %s resumes it\n", op.ID, op.ResumedBy)
			id, interrupted = op.ResumedBy, time.Time{}
			continue
		case op.State == provision.StateSucceeded:
			fmt.Fprintf(w, "%s %s succeeded\n", op.Kind, op.ID)
			return nil
		case op.Interrupted():
			// Marked interrupted before the operation resuming it is
			// recorded: look again for a while.
			if interrupted.IsZero() {
				interrupted = time.Now()
			}
			if time.Since(interrupted) > 30*time.Second {
				return fmt.Errorf("%s %s: %s, and nothing resumed it: send the request again", op.Kind, op.ID, op.Error)
			}
		case op.Done():
			return fmt.Errorf("%s %s %s: %s", op.Kind, op.ID, op.State, op.Error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following operation %s (it goes on: GET /v1/operations/%s)", id, id)
		case <-time.After(c.poll):
		}
	}
}

// endpointToken is NANO_PROVISION_TOKEN, the token file, or the one the
// endpoint generated into its data directory.
func endpointToken(file string) (string, error) {
	if t := strings.TrimSpace(os.Getenv("NANO_PROVISION_TOKEN")); t != "" {
		return t, nil
	}
	if file == "" {
		file = filepath.Join(envOr("NANO_PROVISION_DATA_DIR", defaultDataDir()), "api-token")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("the endpoint's token: set NANO_PROVISION_TOKEN or -token-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
