package k8s_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// breakages each break one rule of a good production build; the named check
// must then fail. This is what shows each check can fail at all.
var breakages = []struct {
	name  string
	check check
	brk   func(r *rendered)
}{
	{"one api replica", checkRollout, func(r *rendered) { dep(r, api).Spec.Replicas = ptr.To[int32](1) }},
	{"api rollout may take pods away", checkRollout, func(r *rendered) {
		dep(r, api).Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	}},
	{"worker runs serve", checkRollout, func(r *rendered) { ctr(r, worker).Args = []string{"serve"} }},
	{"no startup probe", checkProbes, func(r *rendered) { ctr(r, api).StartupProbe = nil }},
	{"liveness asks /ready", checkProbes, func(r *rendered) { ctr(r, api).LivenessProbe.HTTPGet.Path = "/ready" }},
	{"readiness asks /health", checkProbes, func(r *rendered) { ctr(r, worker).ReadinessProbe.HTTPGet.Path = "/health" }},
	{"worker probes on the api port", checkProbes, func(r *rendered) {
		ctr(r, worker).LivenessProbe.HTTPGet.Port = intstr.FromInt32(8000)
	}},
	{"probe on an unknown port name", checkProbes, func(r *rendered) {
		ctr(r, api).ReadinessProbe.HTTPGet.Port = intstr.FromString("web")
	}},
	{"container port differs from HTTP_ADDR", checkProbes, func(r *rendered) { ctr(r, api).Ports[0].ContainerPort = 8080 }},
	{"root user", checkSecurity, func(r *rendered) { ctr(r, api).SecurityContext.RunAsUser = ptr.To[int64](0) }},
	{"no runAsNonRoot", checkSecurity, func(r *rendered) {
		dep(r, worker).Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
		ctr(r, worker).SecurityContext.RunAsNonRoot = nil
	}},
	{"writable root filesystem", checkSecurity, func(r *rendered) { ctr(r, worker).SecurityContext.ReadOnlyRootFilesystem = ptr.To(false) }},
	{"privilege escalation", checkSecurity, func(r *rendered) { ctr(r, api).SecurityContext.AllowPrivilegeEscalation = nil }},
	{"capability added", checkSecurity, func(r *rendered) { ctr(r, api).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"} }},
	{"capabilities kept", checkSecurity, func(r *rendered) { ctr(r, api).SecurityContext.Capabilities = nil }},
	{"no seccomp", checkSecurity, func(r *rendered) { dep(r, api).Spec.Template.Spec.SecurityContext.SeccompProfile = nil }},
	{"migrate job as root", checkSecurity, func(r *rendered) { r.Jobs[0].Spec.Template.Spec.Containers[0].SecurityContext = nil }},
	{"service account token mounted", checkSecurity, func(r *rendered) { dep(r, api).Spec.Template.Spec.AutomountServiceAccountToken = nil }},
	{"no memory limit", checkResources, func(r *rendered) { delete(ctr(r, worker).Resources.Limits, corev1.ResourceMemory) }},
	{"no cpu request", checkResources, func(r *rendered) { delete(ctr(r, api).Resources.Requests, corev1.ResourceCPU) }},
	{"secret mounted with subPath", checkSecretFiles, func(r *rendered) { ctr(r, api).VolumeMounts[0].SubPath = "SECRET_KEY" }},
	{"secret key as a value", checkSecretFiles, func(r *rendered) {
		ctr(r, api).Env = append(ctr(r, api).Env, corev1.EnvVar{Name: "SECRET_KEY", Value: "x"})
	}},
	{"secret in the ConfigMap", checkSecretFiles, func(r *rendered) { r.ConfigMaps[0].Data["DATABASE_URL"] = "postgres://u:p@db/usersvc" }},
	{"file outside the secret volume", checkSecretFiles, func(r *rendered) { setEnv(ctr(r, worker), "RABBITMQ_URL_FILE", "/etc/usersvc/RABBITMQ_URL") }},
	{"file the volume does not project", checkSecretFiles, func(r *rendered) { setEnv(ctr(r, api), "SECRET_KEY_FILE", secretDir+"/KEY") }},
	{"grace equals delay + 25 s", checkShutdown, func(r *rendered) { dep(r, api).Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30) }},
	{"default grace for the api", checkShutdown, func(r *rendered) { dep(r, api).Spec.Template.Spec.TerminationGracePeriodSeconds = nil }},
	{"worker grace under 25 s", checkShutdown, func(r *rendered) { dep(r, worker).Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](20) }},
	{"delay too long for the grace", checkShutdown, func(r *rendered) { setEnv(ctr(r, api), "SHUTDOWN_DELAY", "15s") }},
	{"no shutdown delay", checkShutdown, func(r *rendered) { setEnv(ctr(r, api), "SHUTDOWN_DELAY", "0s") }},
	{"worker without a PDB", checkPDBs, func(r *rendered) { r.PDBs = r.PDBs[:1] }},
	{"PDB selects nothing", checkPDBs, func(r *rendered) { r.PDBs[0].Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "web" }},
	{"PDB blocks drains", checkPDBs, func(r *rendered) { r.PDBs[0].Spec.MaxUnavailable = ptr.To(intstr.FromInt32(0)) }},
	{"no HPA", checkAPIHPA, func(r *rendered) { r.HPAs = nil }},
	{"HPA without a scale-down window", checkAPIHPA, func(r *rendered) { r.HPAs[0].Spec.Behavior.ScaleDown = nil }},
	{"HPA on memory only", checkAPIHPA, func(r *rendered) { r.HPAs[0].Spec.Metrics[0].Resource.Name = corev1.ResourceMemory }},
	{"HPA down to one pod", checkAPIHPA, func(r *rendered) { r.HPAs[0].Spec.MinReplicas = ptr.To[int32](1) }},
	{"migrate as init container", checkMigrate, func(r *rendered) {
		spec := &dep(r, api).Spec.Template.Spec
		spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: "migrate", Args: []string{"migrate", "up"}})
	}},
	{"no migrate job", checkMigrate, func(r *rendered) { r.Jobs = nil }},
	{"migrate job restarts always", checkMigrate, func(r *rendered) { r.Jobs[0].Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }},
	{"service selects no api pod", checkAPIService, func(r *rendered) {
		for _, s := range r.Services {
			s.Spec.Selector = map[string]string{"app": "other"}
		}
	}},
	{"no default deny", checkNetworkPolicies, func(r *rendered) {
		r.NetworkPolicies = slices.DeleteFunc(r.NetworkPolicies, func(np *networkingv1.NetworkPolicy) bool { return np.Name == "usersvc-default-deny" })
	}},
	{"api port closed", checkNetworkPolicies, func(r *rendered) {
		for _, np := range r.NetworkPolicies {
			if np.Name == "usersvc-api-ingress" {
				np.Spec.Ingress = nil
			}
		}
	}},
	{"ConfigMap missing", checkConfigMap, func(r *rendered) { r.ConfigMaps = nil }},
	{"no ScaledObject", checkScaledObject, func(r *rendered) { r.ScaledObjects = nil }},
	{"KEDA counts over AMQP", checkScaledObject, func(r *rendered) { trigger(r, "rabbitmq").Metadata["protocol"] = "amqp" }},
	{"KEDA watches another queue", checkScaledObject, func(r *rendered) { trigger(r, "rabbitmq").Metadata["queueName"] = "other" }},
	{"KEDA without credentials", checkScaledObject, func(r *rendered) { r.TriggerAuths = nil }},
	{"KEDA without CPU", checkScaledObject, func(r *rendered) { trigger(r, "cpu").Type = "memory" }},
	{"workers scale to zero", checkScaledObject, func(r *rendered) { r.ScaledObjects[0].Spec.MinReplicaCount = ptr.To[int32](0) }},
	{"an HPA also on the workers", checkScaledObject, func(r *rendered) { r.HPAs[0].Spec.ScaleTargetRef.Name = worker.deployment }},
	{"no ServiceMonitor for the workers", checkServiceMonitors, func(r *rendered) { r.ServiceMonitors = r.ServiceMonitors[:1] }},
	{"ServiceMonitor on a port the Service lacks", checkServiceMonitors, func(r *rendered) { r.ServiceMonitors[0].Spec.Endpoints[0].Port = "web" }},
}

func TestEachCheckCanFail(t *testing.T) {
	docs, err := kustomizeBuild(filesys.MakeFsOnDisk(), "overlays/production")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			r, err := decodeAll(docs) // a fresh copy for each breakage
			if err != nil {
				t.Fatal(err)
			}
			if err := b.check(r); err != nil {
				t.Fatalf("fails before the breakage: %v", err)
			}
			b.brk(r)
			if err := b.check(r); err == nil {
				t.Fatal("the check passed a broken build")
			} else {
				t.Log(err)
			}
		})
	}
}

// TestBrokenOverlayFails goes through kustomize itself: an overlay, written to
// an in-memory copy of deploy/k8s, that patches in what the checks forbid.
func TestBrokenOverlayFails(t *testing.T) {
	mem := copyToMemory(t, ".")
	for name, tc := range map[string]struct {
		patch string
		check check
	}{
		"subPath secret mount": {check: checkSecretFiles, patch: `
- op: replace
  path: /spec/template/spec/containers/0/volumeMounts/0/subPath
  value: SECRET_KEY`},
		"migrate in an init container": {check: checkMigrate, patch: `
- op: add
  path: /spec/template/spec/initContainers
  value: [{name: migrate, image: usersvc, args: [migrate]}]`},
		"liveness on the database": {check: checkProbes, patch: `
- op: replace
  path: /spec/template/spec/containers/0/livenessProbe/httpGet/path
  value: /ready`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := "/overlays/broken-" + filepath.Base(t.Name())
			kustomization := "resources: [../production]\npatches:\n- target: {kind: Deployment, name: usersvc-api}\n  patch: |-" +
				indent(tc.patch, "    ") + "\n"
			if err := mem.WriteFile(dir+"/kustomization.yaml", []byte(kustomization)); err != nil {
				t.Fatal(err)
			}
			if err := tc.check(buildOverlay(t, mem, dir)); err == nil {
				t.Fatal("the check passed a broken overlay")
			}
		})
	}
}

// copyToMemory copies the YAML files under root into an in-memory filesystem.
func copyToMemory(t *testing.T, root string) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+filepath.ToSlash(p), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mem
}

func indent(s, prefix string) string {
	out := ""
	for _, line := range strings.Split(strings.TrimPrefix(s, "\n"), "\n") {
		out += "\n" + prefix + line
	}
	return out
}

func dep(r *rendered, a app) *appsv1.Deployment {
	d, err := r.deployment(a.deployment)
	if err != nil {
		panic(err)
	}
	return d
}

func ctr(r *rendered, a app) *corev1.Container {
	return &dep(r, a).Spec.Template.Spec.Containers[0]
}

func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func trigger(r *rendered, typ string) *kedaTrigger {
	for i, t := range r.ScaledObjects[0].Spec.Triggers {
		if t.Type == typ {
			return &r.ScaledObjects[0].Spec.Triggers[i]
		}
	}
	panic("no " + typ + " trigger")
}
