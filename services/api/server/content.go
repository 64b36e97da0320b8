package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nanosiem/nano/services/api/enrich"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/quota"
)

// Dashboard is a saved arrangement of searches (its definition is the
// client's JSON, bounded by the body limit).
type Dashboard struct {
	ID         int64           `json:"id" db:"id"`
	Name       string          `json:"name" db:"name"`
	Definition json.RawMessage `json:"definition" db:"definition"`
	CreatedAt  time.Time       `json:"created_at" db:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at" db:"updated_at"`
}

type dashboardBody struct {
	Name       string          `json:"name"`
	Definition json.RawMessage `json:"definition"`
}

func (b dashboardBody) validate() error {
	if b.Name == "" || len(b.Name) > 200 {
		return bad("name", "1 to 200 characters")
	}
	var v map[string]any
	if len(b.Definition) == 0 || json.Unmarshal(b.Definition, &v) != nil {
		return bad("definition", "a JSON object")
	}
	return nil
}

func (s *Server) listDashboards(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	serveList(s, w, r, p.Tenant, `SELECT id, name, definition, created_at, updated_at FROM dashboards WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`,
		func(d Dashboard) int64 { return d.ID })
}

func (s *Server) dashboard(r *http.Request, q string, args ...any) (Dashboard, error) {
	var d Dashboard
	err := s.DB.QueryRow(r.Context(), q, args...).Scan(&d.ID, &d.Name, &d.Definition, &d.CreatedAt, &d.UpdatedAt)
	return d, err
}

func (s *Server) createDashboard(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b dashboardBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	if err := b.validate(); err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	d, err := s.dashboard(r, `INSERT INTO dashboards (tenant, name, definition) VALUES ($1, $2, $3) RETURNING id, name, definition, created_at, updated_at`,
		p.Tenant, b.Name, b.Definition)
	s.respond(w, http.StatusCreated, d, err)
}

func (s *Server) getDashboard(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	var d Dashboard
	if err == nil {
		d, err = s.dashboard(r, `SELECT id, name, definition, created_at, updated_at FROM dashboards WHERE tenant = $1 AND id = $2`, p.Tenant, id)
	}
	s.respond(w, http.StatusOK, d, err)
}

func (s *Server) updateDashboard(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	var b dashboardBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	if err := b.validate(); err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	d, err := s.dashboard(r, `UPDATE dashboards SET name = $3, definition = $4, updated_at = now() WHERE tenant = $1 AND id = $2
RETURNING id, name, definition, created_at, updated_at`, p.Tenant, id, b.Name, b.Definition)
	s.respond(w, http.StatusOK, d, err)
}

// Sealer encrypts credentials at rest with AES-256-GCM under the key from
// NANO_API_CREDENTIALS_KEY; the tenant and name are authenticated with
// each secret, so a sealed value cannot be moved to another row.
type Sealer struct{ aead cipher.AEAD }

// NewSealer takes a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("the credentials key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

func aad(tenant, name string) []byte { return []byte(tenant + "\x00" + name) }

// Seal encrypts secret for tenant's credential name.
func (s *Sealer) Seal(tenant, name string, secret []byte) (nonce, ciphertext []byte, err error) {
	nonce = make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return nonce, s.aead.Seal(nil, nonce, secret, aad(tenant, name)), nil
}

// Open decrypts a sealed secret (tasks that use credentials call it).
func (s *Sealer) Open(tenant, name string, nonce, ciphertext []byte) ([]byte, error) {
	out, err := s.aead.Open(nil, nonce, ciphertext, aad(tenant, name))
	if err != nil {
		return nil, errors.New("the credential does not decrypt with this key")
	}
	return out, nil
}

// Credential is listed without its secret.
type Credential struct {
	ID        int64     `json:"id" db:"id"`
	Name      string    `json:"name" db:"name"`
	Kind      string    `json:"kind" db:"kind"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	serveList(s, w, r, p.Tenant, `SELECT id, name, kind, created_at FROM credentials WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`,
		func(c Credential) int64 { return c.ID })
}

func (s *Server) createCredential(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b credentialBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	switch {
	case b.Name == "" || len(b.Name) > 200:
		s.respond(w, 0, nil, bad("name", "1 to 200 characters"))
		return
	case b.Kind == "" || len(b.Kind) > 64:
		s.respond(w, 0, nil, bad("kind", "1 to 64 characters (e.g. api_key, basic_auth)"))
		return
	case b.Secret == "" || len(b.Secret) > 16<<10:
		s.respond(w, 0, nil, bad("secret", "1 byte to 16 KiB"))
		return
	case s.Sealer == nil:
		fail(w, http.StatusServiceUnavailable, "", "credentials are disabled: the service has no NANO_API_CREDENTIALS_KEY")
		return
	}
	nonce, ct, err := s.Sealer.Seal(p.Tenant, b.Name, []byte(b.Secret))
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	var c Credential
	err = s.DB.QueryRow(r.Context(), `INSERT INTO credentials (tenant, name, kind, nonce, ciphertext) VALUES ($1, $2, $3, $4, $5) RETURNING id, name, kind, created_at`,
		p.Tenant, b.Name, b.Kind, nonce, ct).Scan(&c.ID, &c.Name, &c.Kind, &c.CreatedAt)
	s.respond(w, http.StatusCreated, c, err)
}

// Enrichment is a dataset kept in sync, as listed: owned by the tenant or
// by the platform (every tenant may look the platform's up), its source
// redacted (a URL's credentials and query values never come back).
type Enrichment struct {
	ID              int64      `json:"id" db:"id"`
	Owner           string     `json:"owner" db:"owner"`
	Name            string     `json:"name" db:"name"`
	Source          string     `json:"source" db:"source"`
	Format          string     `json:"format" db:"format"`
	SHA256          string     `json:"sha256,omitempty" db:"sha256"`
	IntervalSeconds int        `json:"interval_seconds" db:"interval_seconds"`
	LastChecksum    string     `json:"last_checksum,omitempty" db:"last_checksum"`
	LastRows        int64      `json:"last_rows" db:"last_rows"`
	LastSyncedAt    *time.Time `json:"last_synced_at,omitempty" db:"last_synced_at"`
	LastError       string     `json:"last_error,omitempty" db:"last_error"`
}

const enrichmentColumns = `id, CASE WHEN tenant IS NULL THEN 'platform' ELSE 'tenant' END AS owner, name, source, format, sha256, interval_seconds,
last_checksum, last_rows, last_synced_at, last_error`

func (e *Enrichment) scan(row pgx.Row) error {
	err := row.Scan(&e.ID, &e.Owner, &e.Name, &e.Source, &e.Format, &e.SHA256, &e.IntervalSeconds, &e.LastChecksum, &e.LastRows, &e.LastSyncedAt, &e.LastError)
	e.Source = enrich.Redact(e.Source)
	return err
}

// listEnrichments lists the tenant's datasets and the platform's, never
// another tenant's.
func (s *Server) listEnrichments(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	limit, after, err := page(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	out, err := listOf(r.Context(), s.DB, `SELECT `+enrichmentColumns+` FROM enrichment_datasets WHERE (tenant = $1 OR tenant IS NULL) AND id > $2 ORDER BY id LIMIT $3`,
		p.Tenant, after, limit, func(e Enrichment) int64 { return e.ID })
	for i := range out.Items {
		out.Items[i].Source = enrich.Redact(out.Items[i].Source)
	}
	s.respond(w, http.StatusOK, out, err)
}

// validateEnrichment checks b as a dataset of tenant ("" the platform's).
func (s *Server) validateEnrichment(b enrichmentBody, tenant string) error {
	if err := enrich.ValidateSource(enrich.Dataset{Tenant: tenant, Name: b.Name, Source: b.Source, Format: b.Format, SHA256: b.SHA256}, s.EnrichmentDir, s.FetchGuard); err != nil {
		return err // the first *fielderr.Error names the field
	}
	if b.IntervalSeconds < 60 {
		return bad("interval_seconds", "at least 60")
	}
	return nil
}

// errPlatformScope answers a change to what every tenant shares by a
// token without the platform scope.
var errPlatformScope = errors.New("platform datasets are changed only with a token of the platform scope")

func (s *Server) createEnrichment(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b enrichmentBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	var owner *string
	if !b.Platform {
		owner = &p.Tenant
	} else if !p.Can(authtoken.ScopePlatform) {
		s.respond(w, 0, nil, errPlatformScope)
		return
	}
	tenant := ""
	if owner != nil {
		tenant = *owner
	}
	if err := s.validateEnrichment(b, tenant); err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	var e Enrichment
	err := pgx.BeginFunc(r.Context(), s.DB, func(tx pgx.Tx) error {
		// The platform's datasets are the operator's: not the tenant's quota.
		if owner != nil {
			if err := quota.Check(r.Context(), tx, p.Tenant, s.Limits.Datasets, `SELECT count(*) FROM enrichment_datasets WHERE tenant = $1`); err != nil {
				return err
			}
		}
		return e.scan(tx.QueryRow(r.Context(), `INSERT INTO enrichment_datasets (tenant, name, source, format, sha256, interval_seconds) VALUES ($1, $2, $3, $4, $5, $6)
RETURNING `+enrichmentColumns, owner, b.Name, b.Source, b.Format, b.SHA256, b.IntervalSeconds))
	})
	s.respond(w, http.StatusCreated, e, err)
}

// ownedEnrichment locks the dataset of the path's {id} that p may change
// in tx and returns its owner ("" the platform): another tenant's is not
// found, the platform's needs the platform scope.
func ownedEnrichment(r *http.Request, tx pgx.Tx, p authtoken.Principal) (int64, string, error) {
	id, err := pathID(r)
	if err != nil {
		return 0, "", err
	}
	var tenant *string
	if err := tx.QueryRow(r.Context(), `SELECT tenant FROM enrichment_datasets WHERE id = $1 AND (tenant = $2 OR tenant IS NULL) FOR UPDATE`, id, p.Tenant).Scan(&tenant); err != nil {
		return 0, "", err
	}
	if tenant == nil {
		if !p.Can(authtoken.ScopePlatform) {
			return 0, "", errPlatformScope
		}
		return id, "", nil
	}
	return id, *tenant, nil
}

// replaceEnrichment replaces a dataset's definition; it loads again at
// the next sync.
func (s *Server) replaceEnrichment(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b enrichmentBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	var e Enrichment
	err := pgx.BeginFunc(r.Context(), s.DB, func(tx pgx.Tx) error {
		id, owner, err := ownedEnrichment(r, tx, p)
		if err != nil {
			return err
		}
		if b.Platform != (owner == "") {
			return bad("platform", "a dataset keeps its owner; create a new one instead")
		}
		if err := s.validateEnrichment(b, owner); err != nil {
			return err
		}
		return e.scan(tx.QueryRow(r.Context(), `UPDATE enrichment_datasets SET name = $2, source = $3, format = $4, sha256 = $5, interval_seconds = $6,
last_checksum = '', last_error = '', next_sync_at = now() WHERE id = $1 RETURNING `+enrichmentColumns, id, b.Name, b.Source, b.Format, b.SHA256, b.IntervalSeconds))
	})
	s.respond(w, http.StatusOK, e, err)
}

// deleteEnrichment removes a dataset (its table goes at the next sync;
// lookups stop resolving to it at once).
func (s *Server) deleteEnrichment(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	err := pgx.BeginFunc(r.Context(), s.DB, func(tx pgx.Tx) error {
		id, _, err := ownedEnrichment(r, tx, p)
		if err != nil {
			return err
		}
		_, err = tx.Exec(r.Context(), `DELETE FROM enrichment_datasets WHERE id = $1`, id)
		return err
	})
	s.respond(w, http.StatusNoContent, nil, err)
}

// schedulerState says who leads, since when, and each task's last run.
func (s *Server) schedulerState(w http.ResponseWriter, r *http.Request, _ authtoken.Principal) {
	out := map[string]any{"this_replica_leads": s.Leading()}
	var epoch int64
	var holder string
	var since time.Time
	if err := s.DB.QueryRow(r.Context(), `SELECT epoch, holder, since FROM scheduler_leader WHERE id = 1`).Scan(&epoch, &holder, &since); err == nil {
		out["epoch"], out["leader"], out["since"] = epoch, holder, since
	}
	rows, err := s.DB.Query(r.Context(), `SELECT DISTINCT ON (task) task, finished_at, error FROM task_runs ORDER BY task, id DESC`)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	tasks := map[string]any{}
	for rows.Next() {
		var task, msg string
		var at time.Time
		if err := rows.Scan(&task, &at, &msg); err != nil {
			rows.Close()
			s.respond(w, 0, nil, err)
			return
		}
		tasks[task] = map[string]any{"last_run": at, "error": msg}
	}
	rows.Close()
	out["tasks"] = tasks
	s.respond(w, http.StatusOK, out, rows.Err())
}

type credentialBody struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Secret string `json:"secret"`
}

type enrichmentBody struct {
	// Platform makes a dataset every tenant may look up (platform scope).
	Platform        bool   `json:"platform"`
	Name            string `json:"name"`
	Source          string `json:"source"`
	Format          string `json:"format"`
	SHA256          string `json:"sha256"`
	IntervalSeconds int    `json:"interval_seconds"`
}
