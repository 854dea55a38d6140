// Package oascheck checks real requests and responses of the API against
// the OpenAPI document it serves, with pb33f/libopenapi-validator (OpenAPI
// 3.1, JSON Schema 2020-12, formats asserted). Tests use it to prove that
// what the API does is what the document says.
//
// A few rules of the API that JSON Schema cannot state, and that the
// document states in prose, are checked here too: a JSON body has no
// duplicated keys and no charset but UTF-8 (RFC 8259), integer parameters
// are written in canonical decimal within int64, and no query parameter
// is undeclared.
package oascheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pb33f/jsonschema/v6"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// Spec is one loaded document and the validators built on it.
type Spec struct {
	model *v3.Document
	// full validates request bodies and responses; strict, parameters
	// (an undeclared query parameter is an error); headOnly, a response's
	// status and headers, for HEAD.
	full, strict, headOnly validator.Validator
	schemas                schema_validation.SchemaValidator
	options                *config.ValidationOptions
	// compiler compiles any schema of the document by its JSON pointer.
	compiler *jsonschema.Compiler
}

// docURL names the document inside the compiler.
const docURL = "mem:///openapi.json"

// Load parses a document, checks it against the OpenAPI 3.1 meta-schema
// and prepares its validators.
func Load(document []byte) (*Spec, error) {
	doc, err := libopenapi.NewDocument(document)
	if err != nil {
		return nil, err
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, err
	}
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	compiler.AssertFormat()
	if err := compiler.AddResource(docURL, raw); err != nil {
		return nil, err
	}
	common := []config.Option{config.WithFormatAssertions(), config.WithoutSecurityValidation()}
	full, errs := validator.NewValidator(doc, common...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Spec{
		model:    &model.Model,
		full:     full,
		strict:   validator.NewValidatorFromV3Model(&model.Model, append(common, config.WithStrictMode())...),
		headOnly: validator.NewValidatorFromV3Model(&model.Model, append(common, config.WithoutResponseBodyValidation())...),
		schemas:  schema_validation.NewSchemaValidator(common...),
		options:  config.NewValidationOptions(common...),
		compiler: compiler,
	}
	if ok, errs := s.full.ValidateDocument(); !ok {
		return nil, joined("the document breaks the OpenAPI 3.1 schema", errs)
	}
	return s, nil
}

// Schema compiles the schema at a JSON pointer of the document ("#/components/schemas/Goal").
func (s *Spec) Schema(ptr string) (*jsonschema.Schema, error) {
	toks := strings.Split(strings.TrimPrefix(ptr, "#"), "/")
	for i, tok := range toks {
		toks[i] = url.PathEscape(tok)
	}
	return s.compiler.Compile(docURL + "#" + strings.Join(toks, "/"))
}

// Must is Load for tests.
func Must(t testing.TB, document []byte) *Spec {
	t.Helper()
	s, err := Load(document)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func joined(what string, errs []*liberrors.ValidationError) error {
	var b strings.Builder
	b.WriteString(what)
	for _, e := range errs {
		b.WriteString("\n  - ")
		b.WriteString(e.Message)
		if e.Reason != "" {
			b.WriteString(": " + e.Reason)
		}
		for _, f := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s %s", f.FieldPath, f.Reason)
		}
	}
	return errors.New(b.String())
}

// request builds the request a check is about.
func request(method, target string, header http.Header, body []byte) *http.Request {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	return req
}

// Route returns the documented path template a request target falls
// under, whatever its method ("" when none).
func (s *Spec) Route(target string) (string, bool) {
	_, template, ok := s.pathItem(target)
	return template, ok
}

func (s *Spec) pathItem(target string) (*v3.PathItem, string, bool) {
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		item, errs, template := paths.FindPath(request(method, target, nil, nil), s.model, s.options)
		if item != nil && len(errs) == 0 {
			return item, template, true
		}
	}
	return nil, "", false
}

// CheckResponse validates one exchange's response against the document:
// its status is documented for the operation (a target no path matches
// answers a 404 problem, a method its path lacks the 405 its operations
// document), required headers are present, documented headers match, and
// the body matches the media type's schema.
func (s *Spec) CheckResponse(method, target string, status int, header http.Header, body []byte) error {
	item, _, found := s.pathItem(target)
	if !found {
		if status != http.StatusNotFound {
			return fmt.Errorf("%s %s: no documented path, yet %d (want 404)", method, target, status)
		}
		return s.checkProblem(header, body)
	}
	v := s.full
	switch {
	case method == http.MethodHead:
		method, v = http.MethodGet, s.headOnly
		if len(body) != 0 {
			return fmt.Errorf("HEAD %s: %d bytes of body", target, len(body))
		}
	case operation(item, method) == nil:
		// The 405 is documented on each of the path's operations: check it against the first.
		if status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s: the path has no such operation, yet %d (want 405)", method, target, status)
		}
		for m := range item.GetOperations().KeysFromOldest() {
			method = strings.ToUpper(m)
			break
		}
	}
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body))}
	if ok, errs := v.ValidateHttpResponse(request(method, target, nil, nil), resp); !ok {
		return joined(fmt.Sprintf("%s %s → %d: the response breaks the document", method, target, status), errs)
	}
	return nil
}

// checkProblem validates an answer no documented path gives: a problem.
func (s *Spec) checkProblem(header http.Header, body []byte) error {
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		return fmt.Errorf("a 404 of no documented path is %q, want application/problem+json", ct)
	}
	problem := s.model.Components.Schemas.GetOrZero("Problem")
	if ok, errs := s.schemas.ValidateSchemaBytes(problem.Schema(), body); !ok {
		return joined("a 404 of no documented path is not a Problem", errs)
	}
	return nil
}

// Validate is CheckResponse reporting with t.Errorf.
func (s *Spec) Validate(t testing.TB, method, target string, status int, header http.Header, body []byte) {
	t.Helper()
	if err := s.CheckResponse(method, target, status, header, body); err != nil {
		t.Error(err)
	}
}

func operation(item *v3.PathItem, method string) *v3.Operation {
	op, _ := item.GetOperations().Get(strings.ToLower(method))
	return op
}

// CheckParameters validates a request's path, query and header parameters
// against the documented ones (nil when the document accepts them).
func (s *Spec) CheckParameters(method, target string, header http.Header) error {
	item, template, found := s.pathItem(target)
	if !found {
		return fmt.Errorf("%s: no documented path", target)
	}
	if method == http.MethodHead {
		method = http.MethodGet
	}
	req := request(method, target, header, nil)
	v := s.strict.GetParameterValidator()
	var errs []*liberrors.ValidationError
	for _, check := range []func(*http.Request, *v3.PathItem, string) (bool, []*liberrors.ValidationError){
		v.ValidatePathParamsWithPathItem, v.ValidateQueryParamsWithPathItem, v.ValidateHeaderParamsWithPathItem,
	} {
		_, e := check(req, item, template)
		errs = append(errs, e...)
	}
	if len(errs) > 0 {
		return joined(method+" "+target+": the parameters break the document", errs)
	}
	return canonicalIntegers(item, operation(item, method), template, req.URL)
}

// canonicalIntegers refuses an integer parameter not written as its one
// decimal form (no sign, no leading zero, within int64): simple-style
// serialization of an integer, which the validator reads as a float.
func canonicalIntegers(item *v3.PathItem, op *v3.Operation, template string, u *url.URL) error {
	params := append([]*v3.Parameter{}, item.Parameters...)
	if op != nil {
		params = append(params, op.Parameters...)
	}
	segments := strings.Split(template, "/")
	parts := strings.Split(u.EscapedPath(), "/")
	for _, p := range params {
		if p.Schema == nil || !slices.Contains(p.Schema.Schema().Type, "integer") {
			continue
		}
		var values []string
		switch p.In {
		case "path":
			for i, seg := range segments {
				if seg == "{"+p.Name+"}" && i < len(parts) {
					values = append(values, parts[i])
				}
			}
		case "query":
			values = u.Query()[p.Name]
		}
		for _, raw := range values {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || strconv.FormatInt(n, 10) != raw {
				return fmt.Errorf("%s parameter %s=%q is not an int64 in canonical decimal", p.In, p.Name, raw)
			}
		}
	}
	return nil
}

// CheckRequestBody validates a request body sent with contentType to
// method on a target (nil when the document accepts it).
func (s *Spec) CheckRequestBody(method, target, contentType string, body []byte) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return err
	}
	if cs, ok := params["charset"]; ok && mediaType == "application/json" && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("JSON is UTF-8 (RFC 8259), not %s", cs)
	}
	if err := noDuplicateKeys(body); err != nil {
		return err
	}
	item, template, found := s.pathItem(target)
	if !found {
		return fmt.Errorf("%s: no documented path", target)
	}
	req := request(method, target, http.Header{"Content-Type": {contentType}}, body)
	if ok, errs := s.full.GetRequestBodyValidator().ValidateRequestBodyWithPathItem(req, item, template); !ok {
		return joined(method+" "+target+": the body breaks the document", errs)
	}
	return nil
}

// noDuplicateKeys refuses a JSON text with a key repeated in one object,
// which decoders (and JSON Schema) silently collapse.
func noDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				if seen[key.(string)] {
					return fmt.Errorf("duplicated key %q", key)
				}
				seen[key.(string)] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body")
	}
	if err := walk(); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Operation is one documented (method, path) as the drift test reads it.
type Operation struct {
	Method, Path string
	Statuses     []string
	Secured      bool
	Body         bool
	Params       []string // "in:name"
}

// HasStatus reports whether status is documented.
func (o Operation) HasStatus(status int) bool {
	for _, s := range o.Statuses {
		if s == strconv.Itoa(status) {
			return true
		}
	}
	return false
}

// Operations lists every documented operation, sorted by path then method.
func (s *Spec) Operations() []Operation {
	var ops []Operation
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			o := Operation{Method: strings.ToUpper(method), Path: path, Secured: len(op.Security) > 0, Body: op.RequestBody != nil}
			for code := range op.Responses.Codes.KeysFromOldest() {
				o.Statuses = append(o.Statuses, code)
			}
			for _, p := range append(append([]*v3.Parameter{}, item.Parameters...), op.Parameters...) {
				o.Params = append(o.Params, p.In+":"+p.Name)
			}
			ops = append(ops, o)
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

// Operation returns the documented operation of method on a path template (HEAD is GET).
func (s *Spec) Operation(method, path string) (Operation, bool) {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	for _, op := range s.Operations() {
		if op.Method == method && op.Path == path {
			return op, true
		}
	}
	return Operation{}, false
}

// FromFiber converts a Fiber route pattern (/users/:auth_user_id) to an
// OpenAPI path template (/users/{auth_user_id}).
func FromFiber(pattern string) string {
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}
