package openapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"usersvc/internal/testkit/oascheck"
	"usersvc/platform/config"
	"usersvc/platform/httpserver"
	"usersvc/platform/metrics"
	"usersvc/platform/openapi"
)

var info = openapi.Info{Title: "test", Version: "0"}

// widgets is a feature's fragment, as a module would write it.
func widgets() openapi.Fragment {
	return openapi.Fragment{
		Tags: []openapi.Object{{"name": "widgets"}},
		Paths: openapi.Object{"/widgets": openapi.Object{"get": openapi.Object{
			"operationId": "listWidgets", "tags": openapi.Strings("widgets"),
			"responses": openapi.Responses(openapi.Object{"200": openapi.Object{
				"description": "Widgets.",
				"content":     openapi.JSONContent(openapi.Object{"type": "array", "items": openapi.SchemaRef("Widget")}, nil),
			}}, 405, 429, 500),
		}}},
		Components: map[string]openapi.Object{"schemas": {"Widget": openapi.Object{"type": "string"}}},
	}
}

func decode(t *testing.T, d *openapi.Document) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(d.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestAssembledFromTheGroup: the fragments of the "openapi" group make the
// document once, with the platform's part, its tags sorted (the platform's last).
func TestAssembledFromTheGroup(t *testing.T) {
	var doc *openapi.Document
	gadgets := func() openapi.Fragment { return openapi.Fragment{Tags: []openapi.Object{{"name": "gadgets"}}} }
	app := fx.New(fx.NopLogger, fx.Supply(info),
		fx.Provide(openapi.New, openapi.AsFragment(widgets), openapi.AsFragment(gadgets)),
		fx.Populate(&doc))
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	d := decode(t, doc)
	if d["openapi"] != "3.1.0" {
		t.Errorf("openapi %v", d["openapi"])
	}
	var tags []string
	for _, tag := range d["tags"].([]any) {
		tags = append(tags, tag.(map[string]any)["name"].(string))
	}
	if strings.Join(tags, ",") != "gadgets,widgets,operations" {
		t.Errorf("tags %v", tags)
	}
	for _, p := range []string{"/widgets", "/health", "/ready", "/metrics", "/openapi.json"} {
		if _, ok := d["paths"].(map[string]any)[p]; !ok {
			t.Errorf("no path %s", p)
		}
	}
	oascheck.Must(t, doc.Bytes()) // an OpenAPI 3.1 document
	again, err := openapi.Build(info, widgets(), openapi.Fragment{Tags: []openapi.Object{{"name": "gadgets"}}})
	if err != nil || again.ETag() != doc.ETag() {
		t.Errorf("the same fragments in another order give another document (%v)", err)
	}
}

// TestStatedTwice: two features cannot state one operation or component differently.
func TestStatedTwice(t *testing.T) {
	other := widgets()
	other.Components["schemas"]["Widget"] = openapi.Object{"type": "integer"}
	if _, err := openapi.Build(info, widgets(), other); err == nil {
		t.Error("a component stated twice differently was accepted")
	}
	other = widgets()
	other.Components = nil
	other.Tags = nil
	other.Paths["/widgets"].(openapi.Object)["get"].(openapi.Object)["summary"] = "another"
	if _, err := openapi.Build(info, widgets(), other); err == nil {
		t.Error("an operation stated twice differently was accepted")
	}
	if _, err := openapi.Build(info, widgets(), openapi.Fragment{Components: widgets().Components}); err != nil {
		t.Errorf("a component stated twice identically: %v", err)
	}
}

// TestOpenAPIRoute serves the document through the real server (no guard:
// the route is public and unlimited) and checks it against itself.
func TestOpenAPIRoute(t *testing.T) {
	doc, err := openapi.Build(info, widgets())
	if err != nil {
		t.Fatal(err)
	}
	spec := oascheck.Must(t, doc.Bytes())
	routes := openapi.Routes(doc)
	r := routes[0]
	if len(routes) != 1 || r.Method != http.MethodGet || r.Path != "/openapi.json" || r.Access != httpserver.Public || !r.Unlimited {
		t.Fatalf("routes %+v", routes)
	}
	srv, err := httpserver.New(config.Config{HTTPBodyLimit: 65536}, zap.NewNop(), metrics.NewHTTP(prometheus.NewRegistry()),
		httpserver.Options{Name: "test", Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method string, header map[string]string) (*http.Response, []byte) {
		req := httptest.NewRequest(method, "/openapi.json", nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := srv.App().Test(req, 5000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		spec.Validate(t, method, r.Path, resp.StatusCode, resp.Header, body)
		return resp, body
	}

	resp, body := do("GET", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, doc.Bytes()) {
		t.Fatalf("GET: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if resp.Header.Get("ETag") != doc.ETag() || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, want %q; Cache-Control %q", resp.Header.Get("ETag"), doc.ETag(), resp.Header.Get("Cache-Control"))
	}
	if resp, body := do("GET", map[string]string{"If-None-Match": `"stale", ` + doc.ETag()}); resp.StatusCode != 304 || len(body) != 0 {
		t.Fatalf("If-None-Match: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, body := do("GET", map[string]string{"If-None-Match": "W/" + doc.ETag()}); resp.StatusCode != 304 || len(body) != 0 {
		t.Fatalf("weak If-None-Match: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := do("GET", map[string]string{"If-None-Match": `"stale"`}); resp.StatusCode != 200 {
		t.Fatalf("stale If-None-Match: %d", resp.StatusCode)
	}
	if resp, body := do("HEAD", nil); resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("HEAD: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := do("POST", nil); resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Fatalf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// The served bytes are shared: Bytes hands out copies.
	d := doc.Bytes()
	d[0] = 'X'
	if doc.Bytes()[0] != '{' {
		t.Fatal("Bytes returned the served slice")
	}
}
