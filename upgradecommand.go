package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const upgradeUsage = `usage:
  nano upgrade -f REQUEST.json DEPLOYMENT   upgrade DEPLOYMENT into a new deployment of a higher tier, following its steps
  nano upgrade -complete DEPLOYMENT         complete the upgrade into DEPLOYMENT: move the last events, destroy the old one
REQUEST.json is POST /v1/deployments/{name}/upgrade's body (docs/operate/tier-upgrades.md); - reads it from stdin.`

// upgradeCommand is `nano upgrade`, a client of the provisioning endpoint:
// it starts a deployment's upgrade (or its completion) and follows the
// operation's steps until it ends, through a restart of the endpoint (the
// operation that resumes it). Its exit status is the operation's.
func upgradeCommand(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("upgrade", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() { fmt.Fprintln(w, upgradeUsage); fs.PrintDefaults() }
	endpoint := fs.String("endpoint", envOr("NANO_PROVISION_URL", "http://127.0.0.1:8090"), "the provisioning endpoint (NANO_PROVISION_URL)")
	tokenFile := fs.String("token-file", os.Getenv("NANO_PROVISION_TOKEN_FILE"), "file holding the endpoint's token; NANO_PROVISION_TOKEN wins; default <data-dir>/api-token (NANO_PROVISION_TOKEN_FILE)")
	request := fs.String("f", "", "the upgrade request (JSON), - for stdin")
	complete := fs.Bool("complete", false, "complete the upgrade into DEPLOYMENT")
	timeout := fs.Duration("timeout", 24*time.Hour, "stop following after this long (the operation goes on)")
	caFile := fs.String("cacert", os.Getenv("NANO_PROVISION_CA_FILE"), "PEM CA certificate(s) to trust for an https endpoint whose certificate no system CA signed (NANO_PROVISION_CA_FILE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 || (*request == "") == !*complete {
		return errors.New(upgradeUsage)
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
	c := &endpointClient{base: strings.TrimSuffix(*endpoint, "/"), token: token, http: client}
	name := fs.Arg(0)
	path, body := "/v1/deployments/"+name+"/upgrade/complete", []byte(nil)
	if !*complete {
		path = "/v1/deployments/" + name + "/upgrade"
		if *request == "-" {
			body, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
		} else {
			body, err = os.ReadFile(*request)
		}
		if err != nil {
			return fmt.Errorf("-f: %w", err)
		}
	}
	var started struct {
		Operation struct{ ID string } `json:"operation"`
	}
	if err := c.do(http.MethodPost, path, body, http.StatusAccepted, &started); err != nil {
		return err
	}
	fmt.Fprintf(w, "operation %s started (GET /v1/operations/%s)\n", started.Operation.ID, started.Operation.ID)
	return c.follow(w, started.Operation.ID, time.Now().Add(*timeout))
}

// endpointClient talks to the provisioning endpoint with its token.
type endpointClient struct {
	base, token string
	http        *http.Client
}

// do sends a request and decodes the answer, which must have status want;
// any other is an error carrying the endpoint's reasons.
func (c *endpointClient) do(method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
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
	if resp.StatusCode != want {
		var reasons struct {
			Error  string   `json:"error"`
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(raw, &reasons)
		if reasons.Error != "" {
			reasons.Errors = append(reasons.Errors, reasons.Error)
		}
		return fmt.Errorf("%s %s: %s\n  %s", method, path, resp.Status, strings.Join(reasons.Errors, "\n  "))
	}
	return json.Unmarshal(raw, out)
}

// follow prints an operation's steps as they change until it ends, and
// follows the operation that resumes it after an interruption.
func (c *endpointClient) follow(w io.Writer, id string, deadline time.Time) error {
	printed := map[string]bool{}
	var interrupted time.Time
	for {
		var got struct {
			Operation struct {
				ID, Kind, State, Error, ResumedBy string
				Steps                             []struct{ Name, State, Detail string }
			} `json:"operation"`
		}
		if err := c.do(http.MethodGet, "/v1/operations/"+id, nil, http.StatusOK, &got); err != nil {
			fmt.Fprintf(w, "cannot read operation %s (retrying): %v\n", id, err)
		}
		op := got.Operation
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
		case op.State == "succeeded":
			fmt.Fprintf(w, "%s %s succeeded\n", op.Kind, op.ID)
			return nil
		case op.State == "failed" && strings.HasPrefix(op.Error, "interrupted"):
			// Marked interrupted before the operation resuming it is
			// recorded: look again for a while.
			if interrupted.IsZero() {
				interrupted = time.Now()
			}
			if time.Since(interrupted) > 30*time.Second {
				return fmt.Errorf("%s %s: %s, and nothing resumed it: send the request again", op.Kind, op.ID, op.Error)
			}
		case op.State == "failed" || op.State == "canceled":
			return fmt.Errorf("%s %s %s: %s", op.Kind, op.ID, op.State, op.Error)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stopped following operation %s (it goes on: GET /v1/operations/%s)", id, id)
		}
		time.Sleep(500 * time.Millisecond)
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
