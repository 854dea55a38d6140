// Package openapitest checks requests and responses of the API against the
// document served at /openapi.json, so that any test driving the API (see
// platform/apptest) can prove that what it sees is what the document says:
//
//	r := app.Do("GET", "/users/42/goals?limit=5", nil)
//	openapitest.ValidateTarget(t, "GET", "/users/42/goals?limit=5", r.Status, r.Header, r.Body)
//
// A response is valid when its status is documented for the operation (an
// unknown path must answer the documented 404, a method the path does not
// have the documented 405), every header the response object marks required
// is present and every documented header that is present matches its schema,
// its Content-Type is one of the documented media types and its body
// validates against that media type's schema (JSON Schema 2020-12, formats
// asserted, #/components/... references resolved inside the document).
package openapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"usersvc/platform/openapi"
)

// docURL names the document inside the schema compiler; refs such as
// #/components/schemas/Goal resolve against it.
const docURL = "https://usersvc.invalid/openapi.json"

// methods are the operation keys of an OpenAPI path item.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Spec is a parsed OpenAPI document with its schemas compiled on demand.
// It is safe for concurrent use (parallel tests share Default()).
type Spec struct {
	doc      map[string]any
	paths    []template
	compiler *jsonschema.Compiler

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema // by JSON pointer
}

// template is one path of the document, split into segments.
type template struct {
	path     string
	segments []string // "{name}" for a parameter
	literals int
}

// Load parses an OpenAPI document and prepares its schemas.
func Load(document []byte) (*Spec, error) {
	if dup := duplicateKey(document); dup != "" {
		return nil, fmt.Errorf("openapitest: the document repeats the key %q", dup)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, fmt.Errorf("openapitest: the document is not JSON: %w", err)
	}
	doc, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("openapitest: the document is not a JSON object")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, fmt.Errorf("openapitest: %w", err)
	}
	s := &Spec{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}}
	paths, _ := doc["paths"].(map[string]any)
	for p := range paths {
		segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
		t := template{path: p, segments: segs}
		for _, seg := range segs {
			if !isParam(seg) {
				t.literals++
			}
		}
		s.paths = append(s.paths, t)
	}
	// More literal segments first: /users/me wins over /users/{auth_user_id} (OAS 3.1 "Path Templating Matching").
	sort.Slice(s.paths, func(i, j int) bool {
		if s.paths[i].literals != s.paths[j].literals {
			return s.paths[i].literals > s.paths[j].literals
		}
		return s.paths[i].path < s.paths[j].path
	})
	return s, nil
}

var (
	defaultOnce sync.Once
	defaultSpec *Spec
	defaultErr  error
)

// Default is the document the service serves (platform/openapi), loaded once.
func Default() (*Spec, error) {
	defaultOnce.Do(func() { defaultSpec, defaultErr = Load(openapi.Document()) })
	return defaultSpec, defaultErr
}

// MustDefault is Default for tests: it fails the test when the document does not load.
func MustDefault(t testing.TB) *Spec {
	t.Helper()
	s, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Validate checks one response against the served document; route is the
// route's pattern in OpenAPI (/users/{auth_user_id}) or Fiber
// (/users/:auth_user_id) syntax, or "" for a request no route matched.
// Every problem is reported with t.Errorf.
func Validate(t testing.TB, method, route string, status int, header http.Header, body []byte) {
	t.Helper()
	MustDefault(t).Validate(t, method, route, status, header, body)
}

// ValidateTarget is Validate for a request target (path and query, as sent):
// it finds the documented path the target falls under.
func ValidateTarget(t testing.TB, method, target string, status int, header http.Header, body []byte) {
	t.Helper()
	MustDefault(t).ValidateTarget(t, method, target, status, header, body)
}

// Validate is the package-level Validate on this document.
func (s *Spec) Validate(t testing.TB, method, route string, status int, header http.Header, body []byte) {
	t.Helper()
	if err := s.CheckResponse(method, route, status, header, body); err != nil {
		t.Errorf("openapi: %s %s → %d: %v\nbody: %s", method, routeOrUnmatched(route), status, err, clip(body))
	}
}

// ValidateTarget is the package-level ValidateTarget on this document.
func (s *Spec) ValidateTarget(t testing.TB, method, target string, status int, header http.Header, body []byte) {
	t.Helper()
	route, _ := s.Route(target)
	if err := s.CheckResponse(method, route, status, header, body); err != nil {
		t.Errorf("openapi: %s %s (%s) → %d: %v\nbody: %s", method, target, routeOrUnmatched(route), status, err, clip(body))
	}
}

func routeOrUnmatched(route string) string {
	if route == "" {
		return "no documented path"
	}
	return route
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// FromFiber converts a Fiber route pattern (/users/:auth_user_id) to an
// OpenAPI path template (/users/{auth_user_id}); OpenAPI templates pass unchanged.
func FromFiber(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, ":") {
			segs[i] = "{" + strings.TrimSuffix(seg[1:], "?") + "}"
		}
	}
	return strings.Join(segs, "/")
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

// Route returns the documented path a request target (path, optionally with
// a query) falls under; concrete paths win over templated ones. Segments are
// compared as sent (no percent-decoding), as the server routes them.
func (s *Spec) Route(target string) (string, bool) {
	path, _, _ := strings.Cut(target, "?")
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, t := range s.paths {
		if matchSegments(t.segments, parts) {
			return t.path, true
		}
	}
	return "", false
}

func matchSegments(tmpl, parts []string) bool {
	if len(tmpl) != len(parts) {
		return false
	}
	for i, seg := range tmpl {
		if isParam(seg) {
			if parts[i] == "" {
				return false
			}
		} else if seg != parts[i] {
			return false
		}
	}
	return true
}

// Operation is one documented (method, path).
type Operation struct {
	Method string // upper case: GET, POST…
	Path   string // OpenAPI template
	ID     string // operationId
	// Secured is true when the operation needs a security requirement
	// (its own security, else the document's).
	Secured bool
	// Statuses are the documented response codes ("200", "404"…).
	Statuses []string
	// Params are the parameters that apply ("in:name"), path-level ones included.
	Params []string
	// Body is true when the operation takes a request body.
	Body bool
}

// HasStatus reports whether status is documented.
func (o Operation) HasStatus(status int) bool {
	return slices.Contains(o.Statuses, strconv.Itoa(status))
}

// Operations lists every documented operation, sorted by path then method.
func (s *Spec) Operations() []Operation {
	var ops []Operation
	paths, _ := s.doc["paths"].(map[string]any)
	for path := range paths {
		item, itemPtr := s.derefAt("#/paths/" + escape(path))
		for _, m := range methods {
			rawOp, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			op := Operation{Method: strings.ToUpper(m), Path: path}
			op.ID, _ = rawOp["operationId"].(string)
			sec, has := rawOp["security"].([]any)
			if !has {
				sec, _ = s.doc["security"].([]any)
			}
			for _, req := range sec {
				if r, ok := req.(map[string]any); ok && len(r) > 0 {
					op.Secured = true
				}
			}
			responses, _ := rawOp["responses"].(map[string]any)
			for code := range responses {
				op.Statuses = append(op.Statuses, code)
			}
			sort.Strings(op.Statuses)
			for _, p := range s.parameters(itemPtr, itemPtr+"/"+m) {
				op.Params = append(op.Params, p.in+":"+p.name)
			}
			sort.Strings(op.Params)
			_, op.Body = rawOp["requestBody"]
			ops = append(ops, op)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops
}

// Operation returns the documented operation of method on route (HEAD is GET).
func (s *Spec) Operation(method, route string) (Operation, bool) {
	route = FromFiber(route)
	if strings.EqualFold(method, http.MethodHead) {
		method = http.MethodGet
	}
	for _, op := range s.Operations() {
		if op.Path == route && op.Method == strings.ToUpper(method) {
			return op, true
		}
	}
	return Operation{}, false
}

// CheckResponse is Validate returning the problems as one error (nil when valid).
func (s *Spec) CheckResponse(method, route string, status int, header http.Header, body []byte) error {
	route = FromFiber(route)
	respPtr, err := s.responsePointer(method, route, status)
	if err != nil {
		return err
	}
	resp, respPtr := s.derefAt(respPtr)
	if resp == nil {
		return fmt.Errorf("%s does not resolve", respPtr)
	}
	var errs []error
	errs = append(errs, s.checkHeaders(resp, respPtr, header)...)
	head := strings.EqualFold(method, http.MethodHead)
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) > 0 {
			errs = append(errs, fmt.Errorf("status %d is documented without content, yet the body has %d bytes", status, len(body)))
		}
		return errors.Join(errs...)
	}
	ct := header.Get("Content-Type")
	mt, _, perr := mime.ParseMediaType(ct)
	if perr != nil {
		return errors.Join(append(errs, fmt.Errorf("Content-Type %q is not a media type (documented: %s)", ct, keys(content)))...)
	}
	media, key := lookupMedia(content, mt)
	if media == nil {
		return errors.Join(append(errs, fmt.Errorf("Content-Type %q is not documented (documented: %s)", ct, keys(content)))...)
	}
	if head {
		return errors.Join(errs...) // a HEAD response carries the headers of the GET, no body
	}
	if _, ok := media["schema"]; !ok {
		return errors.Join(errs...)
	}
	schemaPtr := respPtr + "/content/" + escape(key) + "/schema"
	errs = append(errs, s.checkBody(schemaPtr, key, body))
	return errors.Join(errs...)
}

// responsePointer finds the response object documented for the exchange.
func (s *Spec) responsePointer(method, route string, status int) (string, error) {
	code := strconv.Itoa(status)
	if route == "" {
		if status != http.StatusNotFound {
			return "", fmt.Errorf("no documented path matches, so the answer must be 404, not %d", status)
		}
		if s.lookup("#/components/responses/NotFound") == nil {
			return "", errors.New("unmatched path: #/components/responses/NotFound is not documented")
		}
		return "#/components/responses/NotFound", nil
	}
	itemPtr := "#/paths/" + escape(route)
	item, itemPtr := s.derefAt(itemPtr)
	if item == nil {
		return "", fmt.Errorf("path %s is not documented", route)
	}
	m := strings.ToLower(method)
	if m == "head" {
		m = "get"
	}
	if _, ok := item[m].(map[string]any); !ok {
		// A method the path lacks: the answer is the 405 documented on the path's operations.
		if status != http.StatusMethodNotAllowed {
			return "", fmt.Errorf("%s is not documented on %s, so the answer must be 405, not %d", strings.ToUpper(method), route, status)
		}
		for _, other := range methods {
			if op, ok := item[other].(map[string]any); ok {
				if responses, _ := op["responses"].(map[string]any); responses[code] != nil {
					return itemPtr + "/" + other + "/responses/" + code, nil
				}
			}
		}
		return "", fmt.Errorf("405 is documented on no operation of %s", route)
	}
	opPtr := itemPtr + "/" + m
	responses, _ := item[m].(map[string]any)["responses"].(map[string]any)
	for _, k := range []string{code, code[:1] + "XX", "default"} {
		if _, ok := responses[k]; ok {
			return opPtr + "/responses/" + k, nil
		}
	}
	return "", fmt.Errorf("status %d is not documented for %s %s (documented: %s)", status, strings.ToUpper(m), route, keys(responses))
}

func (s *Spec) checkHeaders(resp map[string]any, respPtr string, header http.Header) []error {
	var errs []error
	headers, _ := resp["headers"].(map[string]any)
	for _, name := range sortedKeys(headers) {
		if strings.EqualFold(name, "Content-Type") {
			continue // OAS: a Content-Type header definition is ignored
		}
		h, hPtr := s.derefAt(respPtr + "/headers/" + escape(name))
		if h == nil {
			errs = append(errs, fmt.Errorf("header %s: %s does not resolve", name, hPtr))
			continue
		}
		values := header.Values(name)
		if len(values) == 0 {
			if required, _ := h["required"].(bool); required {
				errs = append(errs, fmt.Errorf("the documented required header %s is missing", name))
			}
			continue
		}
		if len(values) > 1 {
			errs = append(errs, fmt.Errorf("header %s is sent %d times", name, len(values)))
		}
		if _, ok := h["schema"]; ok {
			if err := s.checkScalar(hPtr+"/schema", values[0]); err != nil {
				errs = append(errs, fmt.Errorf("header %s: %q: %w", name, values[0], err))
			}
		}
	}
	return errs
}

// checkBody validates a body against the media type's schema.
func (s *Spec) checkBody(schemaPtr, mediaType string, body []byte) error {
	sch, err := s.schema(schemaPtr)
	if err != nil {
		return err
	}
	var inst any
	if isJSONMedia(mediaType) {
		if dup := duplicateKey(body); dup != "" {
			return fmt.Errorf("the JSON body repeats the key %q", dup)
		}
		inst, err = jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("the %s body is not one JSON value: %w", mediaType, err)
		}
	} else {
		if !utf8.Valid(body) {
			return fmt.Errorf("the %s body is not UTF-8", mediaType)
		}
		inst = string(body)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("the body does not match %s: %w", schemaPtr, err)
	}
	return nil
}

// CheckRequestBody validates a request body against the operation's
// documented requestBody for its Content-Type: nil when the document accepts
// it. Callers assert that bodies the API accepted pass and bodies it refused
// with 422 fail, which proves the documented field rules are the API's.
func (s *Spec) CheckRequestBody(method, route, contentType string, body []byte) error {
	route = FromFiber(route)
	m := strings.ToLower(method)
	opPtr := "#/paths/" + escape(route) + "/" + m
	if _, ok := s.lookup(opPtr).(map[string]any); !ok {
		return fmt.Errorf("%s %s is not documented", strings.ToUpper(m), route)
	}
	rb, rbPtr := s.derefAt(opPtr + "/requestBody")
	if rb == nil {
		return fmt.Errorf("%s %s documents no request body", strings.ToUpper(m), route)
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", contentType, err)
	}
	if cs, ok := params["charset"]; ok && isJSONMedia(mt) && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("Content-Type %q: JSON is UTF-8 (RFC 8259), not %s", contentType, cs)
	}
	content, _ := rb["content"].(map[string]any)
	media, key := lookupMedia(content, mt)
	if media == nil {
		return fmt.Errorf("Content-Type %q is not documented (documented: %s)", contentType, keys(content))
	}
	return s.checkBody(rbPtr+"/content/"+escape(key)+"/schema", key, body)
}

// CheckParameters validates the path, query and header parameters of a
// request target against the documented ones: required ones present, every
// documented one that is present valid against its schema. Undocumented
// query parameters are reported too.
func (s *Spec) CheckParameters(method, target string, header http.Header) error {
	route, ok := s.Route(target)
	if !ok {
		return fmt.Errorf("%s: no documented path", target)
	}
	path, rawQuery, _ := strings.Cut(target, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return fmt.Errorf("%s: query: %w", target, err)
	}
	item, itemPtr := s.derefAt("#/paths/" + escape(route))
	m := strings.ToLower(method)
	if m == "head" {
		m = "get"
	}
	if _, ok := item[m].(map[string]any); !ok {
		return fmt.Errorf("%s %s is not documented", strings.ToUpper(m), route)
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	tmpl := strings.Split(strings.TrimPrefix(route, "/"), "/")
	var errs []error
	seenQuery := map[string]bool{}
	for _, p := range s.parameters(itemPtr, itemPtr+"/"+m) {
		var values []string
		switch p.in {
		case "path":
			for i, seg := range tmpl {
				if seg == "{"+p.name+"}" {
					values = []string{parts[i]}
				}
			}
		case "query":
			values = query[p.name]
			seenQuery[p.name] = true
		case "header":
			values = header.Values(p.name)
		}
		if len(values) == 0 {
			if p.required {
				errs = append(errs, fmt.Errorf("the required %s parameter %s is missing", p.in, p.name))
			}
			continue
		}
		if len(values) > 1 && p.in == "query" {
			errs = append(errs, fmt.Errorf("the %s parameter %s is given %d times", p.in, p.name, len(values)))
		}
		if err := s.checkScalar(p.ptr+"/schema", values[0]); err != nil {
			errs = append(errs, fmt.Errorf("%s parameter %s=%q: %w", p.in, p.name, values[0], err))
		}
	}
	for name := range query {
		if !seenQuery[name] {
			errs = append(errs, fmt.Errorf("the query parameter %s is not documented", name))
		}
	}
	return errors.Join(errs...)
}

type param struct {
	name, in string
	required bool
	ptr      string // pointer to the resolved parameter object
}

// parameters merges the parameters of a path item and of one of its
// operations (the operation's win, keyed by name and location).
func (s *Spec) parameters(itemPtr, opPtr string) []param {
	var out []param
	for _, base := range []string{itemPtr, opPtr} {
		list, _ := s.lookup(base + "/parameters").([]any)
		for i := range list {
			obj, ptr := s.derefAt(base + "/parameters/" + strconv.Itoa(i))
			if obj == nil {
				continue
			}
			p := param{ptr: ptr}
			p.name, _ = obj["name"].(string)
			p.in, _ = obj["in"].(string)
			p.required, _ = obj["required"].(bool)
			out = slices.DeleteFunc(out, func(q param) bool { return q.name == p.name && q.in == p.in })
			out = append(out, p)
		}
	}
	return out
}

// integerText is how a parameter or header of type integer is written.
var integerText = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// checkScalar validates a header or parameter value (simple style, a
// primitive) against the schema at ptr: a schema of type integer or number
// reads the text as a number, any other as a string.
func (s *Spec) checkScalar(ptr, text string) error {
	sch, err := s.schema(ptr)
	if err != nil {
		return err
	}
	var inst any = text
	if typ := s.schemaType(ptr); typ == "integer" || typ == "number" {
		if _, err := strconv.ParseFloat(text, 64); err != nil || typ == "integer" && !integerText.MatchString(text) {
			return fmt.Errorf("not a JSON %s", typ)
		}
		inst = json.Number(text)
	}
	return sch.Validate(inst)
}

// schemaType follows $refs to the schema's "type", when it names one.
func (s *Spec) schemaType(ptr string) string {
	obj, _ := s.derefAt(ptr)
	t, _ := obj["type"].(string)
	return t
}

// schema compiles (once) the schema at a JSON pointer of the document.
func (s *Spec) schema(ptr string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(docURL + fragment(ptr))
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", ptr, err)
	}
	s.schemas[ptr] = sch
	return sch, nil
}

// Schema compiles the schema at a JSON pointer of the document, e.g.
// "#/components/schemas/Goal", for tests that want it directly.
func (s *Spec) Schema(ptr string) (*jsonschema.Schema, error) { return s.schema(ptr) }

// fragment percent-encodes a "#/a/b" pointer for use in a URL.
func fragment(ptr string) string {
	toks := strings.Split(strings.TrimPrefix(ptr, "#"), "/")
	for i, tok := range toks {
		toks[i] = url.PathEscape(tok)
	}
	return "#" + strings.Join(toks, "/")
}

// escape makes a JSON pointer token of a key (RFC 6901).
func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

func unescape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
}

// lookup returns the value at a "#/…" pointer of the document, or nil.
func (s *Spec) lookup(ptr string) any {
	if ptr == "#" || ptr == "#/" {
		return s.doc
	}
	if !strings.HasPrefix(ptr, "#/") {
		return nil
	}
	var cur any = s.doc
	for _, tok := range strings.Split(ptr[2:], "/") {
		tok = unescape(tok)
		switch v := cur.(type) {
		case map[string]any:
			cur = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
		if cur == nil {
			return nil
		}
	}
	return cur
}

// derefAt returns the object at ptr, following $ref (local refs only), and
// the pointer of the object it ended at.
func (s *Spec) derefAt(ptr string) (map[string]any, string) {
	for range 16 {
		obj, ok := s.lookup(ptr).(map[string]any)
		if !ok {
			return nil, ptr
		}
		ref, isRef := obj["$ref"].(string)
		if !isRef {
			return obj, ptr
		}
		ptr = ref
	}
	return nil, ptr
}

// lookupMedia finds the media type object for mt: exact key, then "type/*", then "*/*".
func lookupMedia(content map[string]any, mt string) (map[string]any, string) {
	major, _, _ := strings.Cut(mt, "/")
	for _, k := range []string{mt, major + "/*", "*/*"} {
		if m, ok := content[k].(map[string]any); ok {
			return m, k
		}
	}
	return nil, ""
}

func isJSONMedia(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func keys(m map[string]any) string { return strings.Join(sortedKeys(m), ", ") }

// duplicateKey returns a member name an object of the JSON text repeats, or
// "" (JSON Schema validates the decoded value, in which a repeated key has
// vanished; the API refuses such bodies, so the checker does too).
func duplicateKey(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object bool
		seen   map[string]bool
		key    bool // the next token of an object is a key
	}
	var stack []*frame
	valueEnded := func() { // an enclosing object expects a key next
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].key = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].key {
			top := stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueEnded()
				continue
			}
			k, _ := tok.(string)
			if top.seen[k] {
				return k
			}
			top.seen[k] = true
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, seen: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		valueEnded()
	}
}
