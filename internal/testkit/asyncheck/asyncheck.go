// Package asyncheck checks an AsyncAPI 3.0 document in tests: its shape,
// that every reference resolves, and message payloads against their
// schemas (the AsyncAPI Schema format is a superset of JSON Schema draft 7).
package asyncheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/pb33f/jsonschema/v6"
)

const docURL = "file:///asyncapi.json"

// Doc is a loaded document.
type Doc struct {
	Raw      map[string]any
	compiler *jsonschema.Compiler
}

// Must loads the document, failing the test when it is not a JSON object.
func Must(t testing.TB, document []byte) *Doc {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(document, &raw); err != nil {
		t.Fatalf("the AsyncAPI document is not a JSON object: %v", err)
	}
	loaded, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	if err := c.AddResource(docURL, loaded); err != nil {
		t.Fatal(err)
	}
	return &Doc{Raw: raw, compiler: c}
}

// Resolve follows a local reference ("#/channels/x/messages/y").
func (d *Doc) Resolve(ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("%s is not a local reference", ref)
	}
	var at any = d.Raw
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		obj, ok := at.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s is not under an object", ref, tok)
		}
		if at, ok = obj[tok]; !ok {
			return nil, fmt.Errorf("%s does not resolve (%s)", ref, tok)
		}
	}
	return at, nil
}

// Refs lists every "$ref" of the document.
func (d *Doc) Refs() []string {
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if r, ok := t["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		}
	}
	walk(d.Raw)
	return refs
}

// Payload compiles the payload schema of a message of components.messages.
func (d *Doc) Payload(t testing.TB, message string) *jsonschema.Schema {
	t.Helper()
	s, err := d.compiler.Compile(docURL + "#/components/messages/" + url.PathEscape(message) + "/payload")
	if err != nil {
		t.Fatalf("message %s: %v", message, err)
	}
	return s
}

// Validate checks a JSON body against a message's payload schema.
func (d *Doc) Validate(t testing.TB, message string, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return d.Payload(t, message).Validate(v)
}
