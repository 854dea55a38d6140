package k8s_test

import (
	"maps"
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlays are the environments, and the checks each must pass.
var overlays = []struct {
	dir    string
	checks map[string]check
}{
	{"overlays/dev", commonChecks},
	{"overlays/production", union(commonChecks, productionChecks)},
}

func union(a, b map[string]check) map[string]check {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

func buildOverlay(t *testing.T, fs filesys.FileSystem, dir string) *rendered {
	t.Helper()
	docs, err := kustomizeBuild(fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeAll(docs)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return r
}

func TestOverlaysKeepTheRules(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.dir, func(t *testing.T) {
			r := buildOverlay(t, filesys.MakeFsOnDisk(), o.dir)
			for _, name := range slices.Sorted(maps.Keys(o.checks)) {
				if err := o.checks[name](r); err != nil {
					t.Errorf("%s:\n%v", name, err)
				}
			}
		})
	}
}

// TestDevHasNoProductionOnlyObjects: KEDA and the Prometheus Operator are not
// assumed on a development cluster.
func TestDevHasNoProductionOnlyObjects(t *testing.T) {
	r := buildOverlay(t, filesys.MakeFsOnDisk(), "overlays/dev")
	if len(r.ScaledObjects)+len(r.TriggerAuths)+len(r.ServiceMonitors) != 0 {
		t.Fatal("the dev overlay needs KEDA or the Prometheus Operator")
	}
}

// TestDecodingIsStrict: a field the type does not have fails the build's
// decoding instead of being dropped unread.
func TestDecodingIsStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown Deployment field":     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"misplaced probe field":        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: [{name: a, readinessProbe: {path: /ready}}]\n",
		"unknown ScaledObject field":   "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec: {minReplicas: 1}\n",
		"unknown ServiceMonitor field": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoints: [{port: http, paht: /metrics}]}\n",
		"kind without a type":          "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
		"old HPA version":              "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\n",
	} {
		if _, err := decodeAll([][]byte{[]byte(doc)}); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}
