package main

// The assembled OpenAPI document as a document: OpenAPI 3.1 structure,
// schemas and examples, and the field rules its request schemas carry.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// node is one value of the document with its JSON pointer.
type node struct {
	ptr string
	v   any
}

func loadDoc(t *testing.T, document []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(document))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json is not a JSON object: %v", err)
	}
	if dec.More() {
		t.Fatal("openapi.json has data after the JSON value")
	}
	return doc
}

func walk(ptr string, v any, visit func(node)) {
	visit(node{ptr, v})
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			walk(ptr+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), c, visit)
		}
	case []any:
		for i, c := range x {
			walk(fmt.Sprintf("%s/%d", ptr, i), c, visit)
		}
	}
}

func lookup(doc map[string]any, ptr string) (any, bool) {
	if !strings.HasPrefix(ptr, "#/") {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(ptr[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// deref follows local $refs.
func deref(doc map[string]any, v any) map[string]any {
	for range 16 {
		obj, _ := v.(map[string]any)
		ref, ok := obj["$ref"].(string)
		if !ok {
			return obj
		}
		v, _ = lookup(doc, ref)
	}
	return nil
}

var (
	statusKey   = regexp.MustCompile(`^([1-5][0-9]{2}|[1-5]XX|default)$`)
	pathParam   = regexp.MustCompile(`\{([^{}/]+)\}`)
	httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
)

// TestOpenAPIDocumentStructure checks what an OpenAPI 3.1 tool relies on:
// the OAS 3.1 meta-schema (libopenapi-validator's, in oascheck.Load), then
// the rules it cannot express, one by one.
func TestOpenAPIDocumentStructure(t *testing.T) {
	document, _ := servedDocument(t) // servedDocument loads it with oascheck.Load
	doc := loadDoc(t, document.Bytes())
	if doc["openapi"] != "3.1.0" {
		t.Errorf(`openapi is %v, want "3.1.0"`, doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	for _, f := range []string{"title", "version"} {
		if s, _ := info[f].(string); s == "" {
			t.Errorf("info.%s is missing", f)
		}
	}
	for k := range doc {
		if !slices.Contains([]string{"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components", "security", "tags", "externalDocs"}, k) && !strings.HasPrefix(k, "x-") {
			t.Errorf("unknown top-level field %q", k)
		}
	}

	// Every $ref is local and resolves; every component is used.
	used := map[string]bool{}
	walk("#", doc, func(n node) {
		obj, ok := n.v.(map[string]any)
		if !ok {
			return
		}
		ref, ok := obj["$ref"].(string)
		if !ok {
			return
		}
		if _, found := lookup(doc, ref); !found {
			t.Errorf("%s: $ref %q does not resolve", n.ptr, ref)
		}
		used[ref] = true
	})
	components, _ := doc["components"].(map[string]any)
	for kind, rawGroup := range components {
		group, _ := rawGroup.(map[string]any)
		for name := range group {
			ptr := "#/components/" + kind + "/" + name
			if kind != "securitySchemes" && !used[ptr] {
				t.Errorf("%s is never referenced", ptr)
			}
		}
	}
	schemes, _ := components["securitySchemes"].(map[string]any)
	if bearer, _ := schemes["bearerAuth"].(map[string]any); bearer["type"] != "http" || bearer["scheme"] != "bearer" || bearer["bearerFormat"] != "JWT" {
		t.Errorf("securitySchemes.bearerAuth is %v, want an http bearer JWT scheme", bearer)
	}

	declaredTags := map[string]bool{}
	for _, raw := range doc["tags"].([]any) {
		name, _ := raw.(map[string]any)["name"].(string)
		declaredTags[name] = true
	}

	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("no paths")
	}
	shapes := map[string]string{}
	operationIDs := map[string]string{}
	for path, rawItem := range paths {
		item := deref(doc, rawItem)
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q does not start with /", path)
		}
		shape := pathParam.ReplaceAllString(path, "{}")
		if other, dup := shapes[shape]; dup {
			t.Errorf("paths %s and %s are the same template", path, other)
		}
		shapes[shape] = path
		var templateParams []string
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			templateParams = append(templateParams, m[1])
		}
		ops := 0
		for _, m := range httpMethods {
			rawOp, ok := item[m]
			if !ok {
				continue
			}
			ops++
			op := rawOp.(map[string]any)
			where := strings.ToUpper(m) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := operationIDs[id]; dup {
				t.Errorf("%s: operationId %q is also %s", where, id, other)
			}
			operationIDs[id] = where
			for _, tag := range op["tags"].([]any) {
				if !declaredTags[tag.(string)] {
					t.Errorf("%s: tag %v is not declared", where, tag)
				}
			}
			for _, req := range asList(op["security"]) {
				for name := range req.(map[string]any) {
					if _, ok := schemes[name]; !ok {
						t.Errorf("%s: security scheme %q is not declared", where, name)
					}
				}
			}
			checkParameters(t, doc, where, templateParams, append(asList(item["parameters"]), asList(op["parameters"])...))
			checkResponses(t, doc, where, op)
			if rb, ok := op["requestBody"]; ok {
				body := deref(doc, rb)
				content, _ := body["content"].(map[string]any)
				if len(content) == 0 {
					t.Errorf("%s: requestBody without content", where)
				}
			}
		}
		if ops == 0 {
			t.Errorf("%s: no operation", path)
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

func checkParameters(t *testing.T, doc map[string]any, where string, templateParams []string, params []any) {
	t.Helper()
	declared := map[string]bool{}
	for _, raw := range params {
		p := deref(doc, raw)
		name, _ := p["name"].(string)
		in, _ := p["in"].(string)
		if name == "" || !slices.Contains([]string{"path", "query", "header", "cookie"}, in) {
			t.Errorf("%s: parameter %v needs a name and a valid in", where, p)
		}
		_, hasSchema := p["schema"]
		_, hasContent := p["content"]
		if hasSchema == hasContent {
			t.Errorf("%s: parameter %s needs exactly one of schema and content", where, name)
		}
		if in == "path" {
			if p["required"] != true {
				t.Errorf("%s: path parameter %s must be required", where, name)
			}
			if !slices.Contains(templateParams, name) {
				t.Errorf("%s: path parameter %s is not in the template", where, name)
			}
			declared[name] = true
		}
	}
	for _, name := range templateParams {
		if !declared[name] {
			t.Errorf("%s: template parameter {%s} is not declared", where, name)
		}
	}
}

func checkResponses(t *testing.T, doc map[string]any, where string, op map[string]any) {
	t.Helper()
	responses, _ := op["responses"].(map[string]any)
	if len(responses) == 0 {
		t.Errorf("%s: no responses", where)
	}
	for code, raw := range responses {
		if !statusKey.MatchString(code) {
			t.Errorf("%s: response key %q is not a status", where, code)
		}
		resp := deref(doc, raw)
		if d, _ := resp["description"].(string); d == "" {
			t.Errorf("%s %s: a response needs a description", where, code)
		}
		content, _ := resp["content"].(map[string]any)
		if code >= "400" && code != "default" {
			if _, ok := content["application/problem+json"]; !ok || len(content) != 1 {
				t.Errorf("%s %s: an error is application/problem+json only, got %v", where, code, sortedKeys(content))
			}
		}
		for name, h := range asMap(resp["headers"]) {
			header := deref(doc, h)
			if _, ok := header["schema"]; !ok {
				t.Errorf("%s %s: header %s has no schema", where, code, name)
			}
		}
	}
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestOpenAPISchemasCompile compiles every schema of the document as JSON
// Schema 2020-12 and validates every example against its schema.
func TestOpenAPISchemasCompile(t *testing.T) {
	document, spec := servedDocument(t)
	doc := loadDoc(t, document.Bytes())
	compiled := 0
	walk("#", doc, func(n node) {
		obj, ok := n.v.(map[string]any)
		if !ok {
			return
		}
		isSchemaSlot := strings.HasSuffix(n.ptr, "/schema") || strings.HasPrefix(n.ptr, "#/components/schemas/") && strings.Count(n.ptr, "/") == 3
		if !isSchemaSlot {
			return
		}
		sch, err := spec.Schema(n.ptr)
		if err != nil {
			t.Errorf("%s: %v", n.ptr, err)
			return
		}
		compiled++
		for i, ex := range asList(obj["examples"]) {
			if err := sch.Validate(jsonValue(t, ex)); err != nil {
				t.Errorf("%s/examples/%d does not match its schema: %v", n.ptr, i, err)
			}
		}
	})
	// Media type examples.
	walk("#", doc, func(n node) {
		obj, ok := n.v.(map[string]any)
		if !ok || !strings.Contains(n.ptr, "/content/") {
			return
		}
		ex, hasExample := obj["example"]
		if _, hasSchema := obj["schema"]; !hasExample || !hasSchema {
			return
		}
		sch, err := spec.Schema(n.ptr + "/schema")
		if err != nil {
			t.Errorf("%s: %v", n.ptr, err)
			return
		}
		if err := sch.Validate(jsonValue(t, ex)); err != nil {
			t.Errorf("%s/example does not match its schema: %v", n.ptr, err)
		}
	})
	if compiled < 20 {
		t.Fatalf("only %d schemas compiled; the walk is broken", compiled)
	}
}

// jsonValue converts a decoded value to what the validator expects (json.Number for numbers).
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenAPIFieldRules spot-checks that the request schemas carry the
// contract's field rules (the end-to-end proof is cmd/usersvc's session test).
func TestOpenAPIFieldRules(t *testing.T) {
	_, spec := servedDocument(t)
	long := func(n int) string { return strings.Repeat("é", n) }
	cases := []struct {
		target, method, body string
		ok                   bool
	}{
		{"/users/42/goals", "POST", `{"title":"Learn Go"}`, true},
		{"/users/42/goals", "POST", `{"title":"` + long(200) + `","description":"` + long(2000) + `","status":"abandoned","streak_count":1000000}`, true},
		{"/users/42/goals", "POST", `{}`, false},
		{"/users/42/goals", "POST", `{"title":"   "}`, false},
		{"/users/42/goals", "POST", `{"title":"` + long(201) + `"}`, false},
		{"/users/42/goals", "POST", `{"title":"a\u0000b"}`, false},
		{"/users/42/goals", "POST", `{"title":"a","description":null}`, false},
		{"/users/42/goals", "POST", `{"title":"a","status":"done"}`, false},
		{"/users/42/goals", "POST", `{"title":"a","streak_count":-1}`, false},
		{"/users/42/goals", "POST", `{"title":"a","streak_count":1.5}`, false},
		{"/users/42/goals", "POST", `{"title":"a","id":3}`, false},
		{"/users/42/goals", "POST", `{"title":"a","title":"b"}`, false},
		{"/users/42/goals/1", "PUT", `{"status":"completed"}`, true},
		{"/users/42/goals/1", "PUT", `{}`, false},
		{"/users/42/goals/1", "PUT", `{"completed_at":null}`, false},
		{"/users/42/badges", "POST", `{"name":"First Steps","icon_url":null,"date_achieved":"2024-05-01T12:00:00+02:00"}`, true},
		{"/users/42/badges", "POST", `{"name":"x","icon_url":"https://cdn.example.com/a.png","description":"` + long(1000) + `"}`, true},
		{"/users/42/badges", "POST", `{"name":"x","icon_url":""}`, false},
		{"/users/42/badges", "POST", `{"name":"x","icon_url":"ftp://example.com/a.png"}`, false},
		{"/users/42/badges", "POST", `{"name":"x","icon_url":"https://"}`, false},
		{"/users/42/badges", "POST", `{"name":"x","description":"` + long(1001) + `"}`, false},
		{"/users/42/badges", "POST", `{"name":"` + long(101) + `"}`, false},
		{"/users/42/badges", "POST", `{"name":"x","date_achieved":"yesterday"}`, false},
		{"/users/42/badges", "POST", `{"name":"x","created_at":"2024-05-01T12:00:00Z"}`, false},
		{"/users/42/goals", "POST", `{"title":"a","longest_streak":3}`, false},
		{"/users/42/goals/1", "PUT", `{"last_check_in_on":"2024-05-01"}`, false},
		{"/users/42/goals/1/check-ins", "POST", `{}`, true},
		{"/users/42/goals/1/check-ins", "POST", `{"occurred_at":"2024-05-01T12:00:00+02:00","timezone":"America/Argentina/Buenos_Aires","minutes":1440,"note":"` + long(500) + `"}`, true},
		{"/users/42/goals/1/check-ins", "POST", `{"minutes":null}`, true},
		{"/users/42/goals/1/check-ins", "POST", `{"minutes":0}`, false},
		{"/users/42/goals/1/check-ins", "POST", `{"minutes":1441}`, false},
		{"/users/42/goals/1/check-ins", "POST", `{"note":"` + long(501) + `"}`, false},
		{"/users/42/goals/1/check-ins", "POST", `{"note":null}`, false},
		{"/users/42/goals/1/check-ins", "POST", `{"timezone":"+02:00"}`, false},
		{"/users/42/goals/1/check-ins", "POST", `{"occurred_at":"today"}`, false},
		{"/users/42/goals/1/check-ins", "POST", `{"streak_count":1}`, false},
		{"/users/42/settings", "PUT", `{"timezone":"Europe/Berlin","day_start_hour":4}`, true},
		{"/users/42/settings", "PUT", `{"day_start_hour":0}`, true},
		{"/users/42/settings", "PUT", `{}`, false},
		{"/users/42/settings", "PUT", `{"day_start_hour":5}`, false},
		{"/users/42/settings", "PUT", `{"timezone":""}`, false},
		{"/users/42/settings", "PUT", `{"timezone":"Europe//Berlin"}`, false},
		{"/users/42/settings", "PUT", `{"timezone":null}`, false},
	}
	for _, tc := range cases {
		err := spec.CheckRequestBody(tc.method, tc.target, "application/json; charset=utf-8", []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s %s %.80s: valid=%v, want %v (%v)", tc.method, tc.target, tc.body, err == nil, tc.ok, err)
		}
	}
	for ct, ok := range map[string]bool{"application/json": true, "application/json; charset=UTF-8": true, "application/json; charset=latin1": false, "text/plain": false} {
		if err := spec.CheckRequestBody("POST", "/users/42/goals", ct, []byte(`{"title":"a"}`)); (err == nil) != ok {
			t.Errorf("Content-Type %s: valid=%v, want %v (%v)", ct, err == nil, ok, err)
		}
	}
	params := []struct {
		target string
		ok     bool
	}{
		{"/users/42/goals?limit=100&status=completed&cursor=abc", true},
		{"/users/ada.lovelace:x-1_2/goals", true},
		{"/users/42/goals?limit=0", false},
		{"/users/42/goals?limit=101", false},
		{"/users/42/goals?limit=ten", false},
		{"/users/42/goals?status=done", false},
		{"/users/42/goals?colour=red", false},
		{"/users/-42/goals", false},
		{"/users/" + strings.Repeat("a", 65) + "/goals", false},
		{"/users/42/goals/0", false},
		{"/users/42/goals/007", false},
		{"/users/42/goals/9223372036854775808", false},
		{"/users/42/goals/9223372036854775807", true},
		{"/users/42/goals/1/check-ins?limit=5&cursor=abc", true},
		{"/users/42/activity?type=goal.checked_in&limit=10", true},
		{"/users/42/activity?type=goal.deleted", false},
		{"/users/42/activity?type=", false},
		{"/users/42/activity/calendar?from=2024-01-01&to=2024-12-31", true},
		{"/users/42/activity/calendar?from=2024-1-1", false},
		{"/users/42/activity/calendar.svg?to=2024-02-30", false},
	}
	for _, tc := range params {
		err := spec.CheckParameters("GET", tc.target, nil)
		if (err == nil) != tc.ok {
			t.Errorf("GET %s: valid=%v, want %v (%v)", tc.target, err == nil, tc.ok, err)
		}
	}
}
