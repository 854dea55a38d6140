package k8s_test

import (
	"errors"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkScaledObject: KEDA scales the workers on the queue length as the
// management API counts it (ready plus unacknowledged), and on CPU; no other
// HPA fights it.
func checkScaledObject(r *rendered) error {
	d, err := r.deployment(worker.deployment)
	if err != nil {
		return err
	}
	var found *scaledObject
	for _, so := range r.ScaledObjects {
		if so.Spec.ScaleTargetRef.Name == d.Name {
			found = so
		}
	}
	if found == nil {
		return fmt.Errorf("no ScaledObject scales %s", d.Name)
	}
	c, err := mainContainer(d)
	if err != nil {
		return err
	}
	queue, _ := r.env(c, "RABBITMQ_QUEUE")
	errs := []error{
		minOneWorker(found),
		queueTrigger(r, found, queue),
		cpuTrigger(found, c),
	}
	for _, h := range r.HPAs {
		if h.Spec.ScaleTargetRef.Name == d.Name {
			errs = append(errs, fmt.Errorf("HPA %s also scales %s: KEDA owns its HPA", h.Name, d.Name))
		}
	}
	return errors.Join(errs...)
}

func minOneWorker(so *scaledObject) error {
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount != 1 {
		return fmt.Errorf("ScaledObject %s: want minReplicaCount 1", so.Name)
	}
	return nil
}

func queueTrigger(r *rendered, so *scaledObject, queue string) error {
	for _, t := range so.Spec.Triggers {
		if t.Type != "rabbitmq" {
			continue
		}
		m := t.Metadata
		if m["protocol"] != "http" || m["mode"] != "QueueLength" || m["queueName"] != queue || m["value"] == "" {
			return fmt.Errorf("ScaledObject %s: want protocol http, mode QueueLength, a value and queueName %q; have %v", so.Name, queue, m)
		}
		if t.AuthenticationRef == nil || !hasHostParameter(r, t.AuthenticationRef.Name) {
			return fmt.Errorf("ScaledObject %s: the rabbitmq trigger needs a TriggerAuthentication giving its host", so.Name)
		}
		return nil
	}
	return fmt.Errorf("ScaledObject %s: no rabbitmq trigger", so.Name)
}

func hasHostParameter(r *rendered, auth string) bool {
	for _, ta := range r.TriggerAuths {
		if ta.Name == auth {
			return slices.ContainsFunc(ta.Spec.SecretTargetRef, func(ref secretTargetRef) bool {
				return ref.Parameter == "host" && ref.Name != "" && ref.Key != ""
			})
		}
	}
	return false
}

// cpuTrigger: KEDA's CPU scaler needs the container's CPU request to measure against.
func cpuTrigger(so *scaledObject, c corev1.Container) error {
	if !slices.ContainsFunc(so.Spec.Triggers, func(t kedaTrigger) bool { return t.Type == "cpu" && t.Metadata["value"] != "" }) {
		return fmt.Errorf("ScaledObject %s: no cpu trigger", so.Name)
	}
	if c.Resources.Requests.Cpu().IsZero() {
		return fmt.Errorf("ScaledObject %s: the worker has no CPU request to scale on", so.Name)
	}
	return nil
}

// checkServiceMonitors: Prometheus finds /metrics of the api and of the workers.
func checkServiceMonitors(r *rendered) error {
	return r.eachApp(func(a app, d *appsv1.Deployment) error {
		for _, s := range r.Services {
			if !selects(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}, d.Spec.Template.Labels) {
				continue
			}
			for _, sm := range r.ServiceMonitors {
				if scrapes(sm, s) {
					return nil
				}
			}
		}
		return fmt.Errorf("%s: no ServiceMonitor scrapes /metrics from a Service of its pods", d.Name)
	})
}

func scrapes(sm *serviceMonitor, s *corev1.Service) bool {
	if !selects(&sm.Spec.Selector, s.Labels) {
		return false
	}
	for _, e := range sm.Spec.Endpoints {
		if e.Path == "/metrics" && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
			return true
		}
	}
	return false
}
