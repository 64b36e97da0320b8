package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
)

// OpenAPI builds the OpenAPI 3.1 document from the route table and the
// request and response types, so it cannot drift from the handlers.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, r := range s.routes() {
		op := map[string]any{
			"operationId": strings.ToLower(r.method) + strings.NewReplacer("/v1/", "_", "/", "_", "{", "", "}", "", "-", "_").Replace(r.path),
			"summary":     r.summary,
			"security":    []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}},
			"description": "Needs a token with the " + r.scope + " scope (admin holds every scope but platform), or a session whose role holds it.",
		}
		switch r.scope {
		case scopePublic:
			op["security"], op["description"] = []any{}, "No credential: part of the sign-in through the identity provider."
		case scopeSession:
			op["description"] = "Any API token or session."
		}
		var params []any
		switch {
		case strings.HasPrefix(r.path, "/v1/silences/"):
			params = append(params, map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string", "format": "uuid"}})
		case strings.Contains(r.path, "{id}"):
			params = append(params, map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "integer", "minimum": 1}})
		}
		if r.method == "GET" && isList(r.resp) {
			params = append(params,
				map[string]any{"name": "limit", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
				map[string]any{"name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if r.body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schema(reflect.TypeOf(r.body))}}}
		}
		errorRef := map[string]any{"description": "Error (the field at fault, when one is)", "content": map[string]any{"application/json": map[string]any{"schema": schema(reflect.TypeOf(apiError{}))}}}
		responses := map[string]any{"400": errorRef, "401": errorRef, "403": errorRef, "404": errorRef, "413": errorRef}
		switch {
		case r.resp == nil:
			responses["204"] = map[string]any{"description": "Done"}
		case r.method == "POST" && r.audit != computes:
			responses["201"] = map[string]any{"description": "Created", "content": map[string]any{"application/json": map[string]any{"schema": schema(reflect.TypeOf(r.resp))}}}
		default:
			responses["200"] = map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": schema(reflect.TypeOf(r.resp))}}}
		}
		op["responses"] = responses
		p, _ := paths[r.path].(map[string]any)
		if p == nil {
			p = map[string]any{}
			paths[r.path] = p
		}
		p[strings.ToLower(r.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": "nano api", "version": s.Version, "description": "Metadata, detections and scheduler of nano."},
		"paths":   paths,
		"components": map[string]any{"securitySchemes": map[string]any{
			"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "nano API token (nano_...)"},
			"session": map[string]any{"type": "apiKey", "in": "cookie", "name": authtoken.SessionCookie,
				"description": "A browser session from the sign-in through the identity provider; its state-changing requests also carry " + authtoken.CSRFHeader + " (GET /v1/session answers it)."},
		}},
	}
}

func isList(v any) bool {
	return v != nil && strings.HasPrefix(reflect.TypeOf(v).Name(), "list[")
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// schema describes a Go type as JSON Schema, following its json tags.
func schema(t reflect.Type) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var out map[string]any
	switch {
	case t == timeType:
		out = map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		out = map[string]any{"type": "object"}
	case t.Kind() == reflect.String:
		out = map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		out = map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		out = map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		out = map[string]any{"type": "number"}
	case t.Kind() == reflect.Slice:
		out = map[string]any{"type": "array", "items": schema(t.Elem())}
	case t.Kind() == reflect.Map:
		out = map[string]any{"type": "object"}
	case t.Kind() == reflect.Struct:
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			ps := schema(f.Type)
			_ = opts
			props[name] = ps
		}
		out = map[string]any{"type": "object", "properties": props}
	default:
		out = map[string]any{}
	}
	if nullable {
		out["type"] = []any{out["type"], "null"}
	}
	return out
}
