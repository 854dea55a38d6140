package k8s_test

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// rendered is what `kustomize build` of one overlay gives, each object in its
// own type. Every object of the build lands in exactly one list.
type rendered struct {
	Deployments     []*appsv1.Deployment
	Jobs            []*batchv1.Job
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	ServiceAccounts []*corev1.ServiceAccount
	PDBs            []*policyv1.PodDisruptionBudget
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	NetworkPolicies []*networkingv1.NetworkPolicy
	ScaledObjects   []*scaledObject
	TriggerAuths    []*triggerAuthentication
	ServiceMonitors []*serviceMonitor
}

// kustomizeBuild runs kustomize over dir of fs, as `kustomize build dir`
// would, and returns one YAML document per object.
func kustomizeBuild(fs filesys.FileSystem, dir string) ([][]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
	return docs, nil
}

// decodeAll decodes each document strictly (an unknown or duplicate field
// fails) into the type its apiVersion and kind name; a kind without a type here
// fails too, so nothing in a build goes unchecked.
func decodeAll(docs [][]byte) (*rendered, error) {
	r := &rendered{}
	for _, doc := range docs {
		if err := r.decode(doc); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *rendered) decode(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	target, add := r.slot(head.APIVersion + " " + head.Kind)
	if target == nil {
		return fmt.Errorf("%s %s: no type to check it against", head.APIVersion, head.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, target); err != nil {
		return fmt.Errorf("%s %s: %w", head.APIVersion, head.Kind, err)
	}
	add()
	return nil
}

// slot gives a new object of the type for "apiVersion kind", and the function
// that files it once decoded.
func (r *rendered) slot(typ string) (any, func()) {
	switch typ {
	case "apps/v1 Deployment":
		return into(&r.Deployments)
	case "batch/v1 Job":
		return into(&r.Jobs)
	case "v1 Service":
		return into(&r.Services)
	case "v1 ConfigMap":
		return into(&r.ConfigMaps)
	case "v1 ServiceAccount":
		return into(&r.ServiceAccounts)
	case "policy/v1 PodDisruptionBudget":
		return into(&r.PDBs)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return into(&r.HPAs)
	case "networking.k8s.io/v1 NetworkPolicy":
		return into(&r.NetworkPolicies)
	case "keda.sh/v1alpha1 ScaledObject":
		return into(&r.ScaledObjects)
	case "keda.sh/v1alpha1 TriggerAuthentication":
		return into(&r.TriggerAuths)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return into(&r.ServiceMonitors)
	}
	return nil, nil
}

func into[T any](list *[]*T) (any, func()) {
	obj := new(T)
	return obj, func() { *list = append(*list, obj) }
}
