package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/quota"
	"github.com/nanosiem/nano/services/search/history"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/sqlgen"
)

// listLimit reads ?limit= (default 50, at most 500); it writes the error
// response and returns false when it is bad.
func listLimit(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 50, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 500 {
		fieldError(w, http.StatusBadRequest, "limit", "from 1 to 500")
		return 0, false
	}
	return n, true
}

// idParam reads a positive id from a query or path value.
func idParam(w http.ResponseWriter, name, v string) (int64, bool) {
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		fieldError(w, http.StatusBadRequest, name, "a positive whole number")
		return 0, false
	}
	return n, true
}

// page is a list response: items and the cursor of the next page.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	limit, ok := listLimit(w, r)
	if !ok {
		return
	}
	before, ok := idParam(w, "cursor", r.URL.Query().Get("cursor"))
	if !ok {
		return
	}
	items, err := s.Store.History(r.Context(), p.Tenant, limit, before)
	if err != nil {
		s.Log.Error("history", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot read the search history now")
		return
	}
	out := page[history.Entry]{Items: items}
	if out.Items == nil {
		out.Items = []history.Entry{}
	}
	if len(items) == limit {
		out.NextCursor = strconv.FormatInt(items[len(items)-1].ID, 10)
	}
	jsonhttp.Reply(w, http.StatusOK, out)
}

// savedBody is a saved search as sent.
type savedBody struct {
	Name  string `json:"name"`
	Query string `json:"query"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// validate names the first bad field; a saved query must parse.
func (b savedBody) validate(w http.ResponseWriter) bool {
	if b.Name == "" || utf8.RuneCountInString(b.Name) > 200 {
		fieldError(w, http.StatusBadRequest, "name", "1 to 200 characters")
		return false
	}
	if _, err := query.Parse(b.Query); err != nil {
		writeProblem(w, queryInvalid(err))
		return false
	}
	for name, v := range map[string]string{"from": b.From, "to": b.To} {
		if _, ok := sqlgen.ParseTime(v, time.Now()); v != "" && !ok {
			fieldError(w, http.StatusBadRequest, name, "expected a time (now, -24h, 2026-11-23T10:00:00Z, ...)")
			return false
		}
	}
	return true
}

func (s *Server) savedCreate(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var b savedBody
	if !jsonhttp.Decode(w, r, &b) || !b.validate(w) {
		return
	}
	v, err := s.Store.Save(r.Context(), p.Tenant, p.TokenRef(), history.Saved{Name: b.Name, Query: b.Query, From: b.From, To: b.To})
	s.savedResult(w, http.StatusCreated, v, err)
}

func (s *Server) savedUpdate(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, ok := idParam(w, "id", r.PathValue("id"))
	if !ok {
		return
	}
	var b savedBody
	if !jsonhttp.Decode(w, r, &b) || !b.validate(w) {
		return
	}
	v, err := s.Store.Update(r.Context(), p.Tenant, history.Saved{ID: id, Name: b.Name, Query: b.Query, From: b.From, To: b.To})
	s.savedResult(w, http.StatusOK, v, err)
}

func (s *Server) savedGet(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, ok := idParam(w, "id", r.PathValue("id"))
	if !ok {
		return
	}
	v, err := s.Store.Get(r.Context(), p.Tenant, id)
	s.savedResult(w, http.StatusOK, v, err)
}

func (s *Server) savedDelete(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, ok := idParam(w, "id", r.PathValue("id"))
	if !ok {
		return
	}
	if err := s.Store.Delete(r.Context(), p.Tenant, id); err != nil {
		s.savedResult(w, 0, history.Saved{}, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) savedList(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	limit, ok := listLimit(w, r)
	if !ok {
		return
	}
	after, ok := idParam(w, "cursor", r.URL.Query().Get("cursor"))
	if !ok {
		return
	}
	items, err := s.Store.List(r.Context(), p.Tenant, limit, after)
	if err != nil {
		s.savedResult(w, 0, history.Saved{}, err)
		return
	}
	out := page[history.Saved]{Items: items}
	if out.Items == nil {
		out.Items = []history.Saved{}
	}
	if len(items) == limit {
		out.NextCursor = strconv.FormatInt(items[len(items)-1].ID, 10)
	}
	jsonhttp.Reply(w, http.StatusOK, out)
}

func isQuota(err error) bool { _, ok := quota.As(err); return ok }

func (s *Server) savedResult(w http.ResponseWriter, code int, v history.Saved, err error) {
	switch {
	case errors.Is(err, history.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, history.ErrDuplicate):
		fieldError(w, http.StatusConflict, "name", err.Error())
	case isQuota(err):
		e, _ := quota.As(err)
		jsonhttp.Fail(w, http.StatusConflict, jsonhttp.Problem{Message: e.Error(), Limit: e.Limit.Key})
	case err != nil:
		s.Log.Error("saved searches", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot reach the saved searches now")
	default:
		jsonhttp.Reply(w, code, v)
	}
}
