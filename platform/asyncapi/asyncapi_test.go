package asyncapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"usersvc/platform/asyncapi"
	"usersvc/platform/config"
	"usersvc/platform/httpserver"
	"usersvc/platform/metrics"
	"usersvc/platform/openapi"
)

var info = openapi.Info{Title: "svc", Version: "1.0.0"}

func thing(payload asyncapi.Object) asyncapi.Fragment {
	return asyncapi.Fragment{
		Servers:  asyncapi.BrokerServer(),
		Channels: asyncapi.Object{"things": asyncapi.Object{"address": "things", "messages": asyncapi.Object{"Thing": asyncapi.MessageRef("Thing")}}},
		Messages: asyncapi.Object{"Thing": asyncapi.Object{"payload": payload}},
	}
}

func TestBuildLendsOnlyTheReferencedSchemas(t *testing.T) {
	shared := asyncapi.Object{
		"Thing": asyncapi.Object{"type": "object", "properties": asyncapi.Object{"part": asyncapi.SchemaRef("Part")}},
		"Part":  asyncapi.Object{"type": "string"},
		"Other": asyncapi.Object{"type": "integer"},
	}
	doc, err := asyncapi.Build(info, shared, thing(asyncapi.SchemaRef("Thing")), thing(asyncapi.SchemaRef("Thing")))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		AsyncAPI   string `json:"asyncapi"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.AsyncAPI != "3.0.0" || len(got.Components.Schemas) != 2 || got.Components.Schemas["Part"] == nil {
		t.Fatalf("asyncapi %q, schemas %v: want Thing and Part", got.AsyncAPI, got.Components.Schemas)
	}
}

func TestBuildRefusesDisagreementsAndDanglingSchemas(t *testing.T) {
	if _, err := asyncapi.Build(info, nil, thing(asyncapi.Object{"type": "string"}), thing(asyncapi.Object{"type": "integer"})); err == nil || !strings.Contains(err.Error(), "message Thing") {
		t.Errorf("two different Thing messages: %v", err)
	}
	if _, err := asyncapi.Build(info, nil, thing(asyncapi.SchemaRef("Nowhere"))); err == nil || !strings.Contains(err.Error(), "Nowhere") {
		t.Errorf("a reference to no schema: %v", err)
	}
}

func TestServedLikeTheOpenAPIDocument(t *testing.T) {
	doc, err := asyncapi.Build(info, nil, thing(asyncapi.Object{"type": "string"}))
	if err != nil {
		t.Fatal(err)
	}
	routes := asyncapi.Routes(doc)
	if r := routes[0]; len(routes) != 1 || r.Method != http.MethodGet || r.Path != asyncapi.Path || r.Access != httpserver.Public || !r.Unlimited {
		t.Fatalf("routes %+v", routes)
	}
	srv, err := httpserver.New(config.Config{HTTPBodyLimit: 65536}, zap.NewNop(), metrics.NewHTTP(prometheus.NewRegistry()),
		httpserver.Options{Name: "test", Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, ifNoneMatch string) (*http.Response, string) {
		req := httptest.NewRequest(method, asyncapi.Path, nil)
		if ifNoneMatch != "" {
			req.Header.Set("If-None-Match", ifNoneMatch)
		}
		resp, err := srv.App().Test(req, 5000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	if resp, body := do("GET", ""); resp.StatusCode != 200 || body != string(doc.Bytes()) || resp.Header.Get("ETag") != doc.ETag() {
		t.Errorf("GET: %d, ETag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	if resp, body := do("HEAD", ""); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := do("GET", `W/`+doc.ETag()); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	if resp, _ := do("GET", `"other"`); resp.StatusCode != 200 {
		t.Errorf("If-None-Match of another version: %d, want 200", resp.StatusCode)
	}
}
