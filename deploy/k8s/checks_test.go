package k8s_test

import (
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// app is one long-running command of usersvc and what its Deployment must honour.
type app struct {
	deployment string
	command    string
	addrEnv    string // the setting whose port serves /health and /ready
	// withShutdownDelay: after SIGTERM the process may take SHUTDOWN_DELAY
	// plus 25 s (serve), else 25 s (CONTRACT §3).
	withShutdownDelay bool
}

var (
	api    = app{deployment: "usersvc-api", command: "serve", addrEnv: "HTTP_ADDR", withShutdownDelay: true}
	worker = app{deployment: "usersvc-worker", command: "consume", addrEnv: "CONSUMER_HEALTH_ADDR"}
	apps   = []app{api, worker}
)

const (
	stopWithin       = 25 * time.Second
	maxShutdownDelay = 20 * time.Second
	secretDir        = "/run/secrets/usersvc"
)

// secretSettings may only reach a pod as NAME_FILE, a file of a secret volume.
var secretSettings = []string{"SECRET_KEY", "SECRET_KEY_PREVIOUS", "DATABASE_URL", "RABBITMQ_URL"}

// check is one rule over a whole build; it reports every breach it finds.
type check func(r *rendered) error

// commonChecks hold for every overlay; productionChecks for production only.
var commonChecks = map[string]check{
	"replicas and rollout": checkRollout,
	"probes":               checkProbes,
	"security context":     checkSecurity,
	"resources":            checkResources,
	"secrets as files":     checkSecretFiles,
	"shutdown fits grace":  checkShutdown,
	"pdb per deployment":   checkPDBs,
	"api hpa":              checkAPIHPA,
	"migrate job":          checkMigrate,
	"api service":          checkAPIService,
	"network policies":     checkNetworkPolicies,
	"config map":           checkConfigMap,
}

var productionChecks = map[string]check{
	"keda scaled object": checkScaledObject,
	"service monitors":   checkServiceMonitors,
}

func (r *rendered) deployment(name string) (*appsv1.Deployment, error) {
	for _, d := range r.Deployments {
		if d.Name == name {
			return d, nil
		}
	}
	return nil, fmt.Errorf("no Deployment %s", name)
}

// eachApp runs f on the Deployment of every app, joining what they report.
func (r *rendered) eachApp(f func(a app, d *appsv1.Deployment) error) error {
	var errs []error
	for _, a := range apps {
		d, err := r.deployment(a.deployment)
		if err == nil {
			err = f(a, d)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func mainContainer(d *appsv1.Deployment) (corev1.Container, error) {
	if len(d.Spec.Template.Spec.Containers) != 1 {
		return corev1.Container{}, fmt.Errorf("%s: want one container, have %d", d.Name, len(d.Spec.Template.Spec.Containers))
	}
	return d.Spec.Template.Spec.Containers[0], nil
}

func checkRollout(r *rendered) error {
	return r.eachApp(func(a app, d *appsv1.Deployment) error {
		var errs []error
		c, err := mainContainer(d)
		if err != nil {
			return err
		}
		if !slices.Equal(c.Args, []string{a.command}) {
			errs = append(errs, fmt.Errorf("%s runs %v, want [%s]", d.Name, c.Args, a.command))
		}
		if a == api && (d.Spec.Replicas == nil || *d.Spec.Replicas < 2) {
			errs = append(errs, fmt.Errorf("%s: want at least 2 replicas", d.Name))
		}
		ru := d.Spec.Strategy.RollingUpdate
		if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
			ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
			errs = append(errs, fmt.Errorf("%s: want a RollingUpdate with maxUnavailable 0", d.Name))
		}
		return errors.Join(errs...)
	})
}

func checkProbes(r *rendered) error {
	return r.eachApp(func(a app, d *appsv1.Deployment) error {
		c, err := mainContainer(d)
		if err != nil {
			return err
		}
		port, err := r.listenPort(c, a.addrEnv)
		if err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		return errors.Join(
			probeAt(d.Name, "startup", c, c.StartupProbe, "/health", port),
			probeAt(d.Name, "readiness", c, c.ReadinessProbe, "/ready", port),
			// Never /ready: a database blip must not restart healthy pods.
			probeAt(d.Name, "liveness", c, c.LivenessProbe, "/health", port),
		)
	})
}

func probeAt(name, kind string, c corev1.Container, p *corev1.Probe, wantPath string, wantPort int32) error {
	if p == nil || p.HTTPGet == nil {
		return fmt.Errorf("%s: no HTTP %s probe", name, kind)
	}
	port, err := containerPort(c, p.HTTPGet.Port)
	if err != nil {
		return fmt.Errorf("%s: %s probe: %w", name, kind, err)
	}
	if p.HTTPGet.Path != wantPath || port != wantPort {
		return fmt.Errorf("%s: %s probe asks %s on %d, want %s on %d", name, kind, p.HTTPGet.Path, port, wantPath, wantPort)
	}
	return nil
}

// containerPort resolves a port given by name or number against c's ports.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, error) {
	if p.Type == intstr.Int {
		return p.IntVal, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}

// listenPort is the port the process listens on, from its address setting.
func (r *rendered) listenPort(c corev1.Container, env string) (int32, error) {
	addr, ok := r.env(c, env)
	if !ok {
		return 0, fmt.Errorf("%s is not set", env)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", env, addr, err)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	return int32(n), err
}

// env is the value a setting has in c: its own env first, then its ConfigMaps.
func (r *rendered) env(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		for _, cm := range r.ConfigMaps {
			if v, ok := cm.Data[name]; ok && cm.Name == from.ConfigMapRef.Name {
				return v, true
			}
		}
	}
	return "", false
}

// pods are the pod templates of every Deployment and Job, by owner name.
func (r *rendered) pods() map[string]corev1.PodSpec {
	pods := map[string]corev1.PodSpec{}
	for _, d := range r.Deployments {
		pods[d.Name] = d.Spec.Template.Spec
	}
	for _, j := range r.Jobs {
		pods[j.Name] = j.Spec.Template.Spec
	}
	return pods
}

func allContainers(p corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(p.InitContainers), p.Containers...)
}

func checkSecurity(r *rendered) error {
	var errs []error
	for name, p := range r.pods() {
		sc := p.SecurityContext
		if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			errs = append(errs, fmt.Errorf("%s: want seccompProfile RuntimeDefault", name))
		}
		if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
			errs = append(errs, fmt.Errorf("%s: want automountServiceAccountToken false", name))
		}
		for _, c := range allContainers(p) {
			errs = append(errs, containerSecurity(name+"/"+c.Name, sc, c.SecurityContext))
		}
	}
	return errors.Join(errs...)
}

func containerSecurity(name string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) error {
	if c == nil {
		return fmt.Errorf("%s: no securityContext", name)
	}
	var errs []error
	nonRoot := c.RunAsNonRoot != nil && *c.RunAsNonRoot || pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
	rootUser := c.RunAsUser != nil && *c.RunAsUser == 0 || pod != nil && pod.RunAsUser != nil && *pod.RunAsUser == 0
	if !nonRoot || rootUser {
		errs = append(errs, fmt.Errorf("%s: want runAsNonRoot and no user 0", name))
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		errs = append(errs, fmt.Errorf("%s: want readOnlyRootFilesystem", name))
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation || c.Privileged != nil && *c.Privileged {
		errs = append(errs, fmt.Errorf("%s: want allowPrivilegeEscalation false, not privileged", name))
	}
	if c.Capabilities == nil || !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(c.Capabilities.Add) > 0 {
		errs = append(errs, fmt.Errorf("%s: want every capability dropped and none added", name))
	}
	return errors.Join(errs...)
}

func checkResources(r *rendered) error {
	var errs []error
	for name, p := range r.pods() {
		for _, c := range allContainers(p) {
			res := c.Resources
			if res.Requests.Cpu().IsZero() || res.Requests.Memory().IsZero() || res.Limits.Memory().IsZero() {
				errs = append(errs, fmt.Errorf("%s/%s: want cpu and memory requests and a memory limit", name, c.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// checkSecretFiles: secrets reach the process as NAME_FILE, files of a secret
// volume mounted as a directory (a subPath mount never sees a rotation).
func checkSecretFiles(r *rendered) error {
	var errs []error
	for name, p := range r.pods() {
		for _, c := range allContainers(p) {
			errs = append(errs, secretFiles(name+"/"+c.Name, p, c, r))
		}
	}
	return errors.Join(errs...)
}

func secretFiles(name string, p corev1.PodSpec, c corev1.Container, r *rendered) error {
	var errs []error
	secretVolumes := map[string]*corev1.SecretVolumeSource{}
	for _, v := range p.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = v.Secret
		}
	}
	mounts := map[string]*corev1.SecretVolumeSource{} // mount path → its secret
	for _, m := range c.VolumeMounts {
		src, ok := secretVolumes[m.Name]
		if !ok {
			continue
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			errs = append(errs, fmt.Errorf("%s: secret volume %s mounted with subPath: a rotation never reaches it", name, m.Name))
		}
		mounts[m.MountPath] = src
	}
	for _, e := range c.Env {
		if slices.Contains(secretSettings, e.Name) {
			errs = append(errs, fmt.Errorf("%s: %s given as a value; want %s_FILE", name, e.Name, e.Name))
		}
		if setting, ok := strings.CutSuffix(e.Name, "_FILE"); ok && slices.Contains(secretSettings, setting) {
			errs = append(errs, fileInSecret(name, e.Name, e.Value, mounts))
		}
	}
	for _, s := range secretSettings {
		if _, ok := r.env(corev1.Container{EnvFrom: c.EnvFrom}, s); ok {
			errs = append(errs, fmt.Errorf("%s: %s in a ConfigMap", name, s))
		}
	}
	return errors.Join(errs...)
}

func fileInSecret(name, env, file string, mounts map[string]*corev1.SecretVolumeSource) error {
	src, ok := mounts[path.Dir(file)]
	if !ok {
		return fmt.Errorf("%s: %s=%s is not in a mounted secret volume", name, env, file)
	}
	if len(src.Items) == 0 {
		return nil
	}
	for _, it := range src.Items {
		if it.Path == path.Base(file) {
			return nil
		}
	}
	return fmt.Errorf("%s: %s=%s: the volume projects no such file", name, env, file)
}

// checkShutdown: the kubelet must wait longer than the process may take to stop.
func checkShutdown(r *rendered) error {
	return r.eachApp(func(a app, d *appsv1.Deployment) error {
		c, err := mainContainer(d)
		if err != nil {
			return err
		}
		budget := stopWithin
		if a.withShutdownDelay {
			delay, err := r.shutdownDelay(c)
			if err != nil {
				return fmt.Errorf("%s: %w", d.Name, err)
			}
			budget += delay
		}
		grace := 30 * time.Second // the Kubernetes default
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		if grace <= budget {
			return fmt.Errorf("%s: terminationGracePeriodSeconds %s is not more than the %s the process may take", d.Name, grace, budget)
		}
		return nil
	})
}

func (r *rendered) shutdownDelay(c corev1.Container) (time.Duration, error) {
	raw, ok := r.env(c, "SHUTDOWN_DELAY")
	if !ok {
		return 0, errors.New("SHUTDOWN_DELAY is not set: a load balancer gets no time to notice /ready")
	}
	d, err := time.ParseDuration(raw)
	if secs, errSecs := strconv.ParseFloat(raw, 64); errSecs == nil {
		d, err = time.Duration(secs*float64(time.Second)), nil
	}
	if err != nil || d <= 0 || d > maxShutdownDelay {
		return 0, fmt.Errorf("SHUTDOWN_DELAY=%q: want a duration in (0, %s]", raw, maxShutdownDelay)
	}
	return d, nil
}

func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && sel != nil && !s.Empty() && s.Matches(labels.Set(podLabels))
}

// checkPDBs: every Deployment has a budget, and the budget lets a drain go on.
func checkPDBs(r *rendered) error {
	var errs []error
	for _, d := range r.Deployments {
		n := 0
		for _, pdb := range r.PDBs {
			if !selects(pdb.Spec.Selector, d.Spec.Template.Labels) {
				continue
			}
			n++
			if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.String() == "0" || mu.String() == "0%" {
				errs = append(errs, fmt.Errorf("PodDisruptionBudget %s: want maxUnavailable above 0, so drains never block", pdb.Name))
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("Deployment %s: %d PodDisruptionBudgets select it, want 1", d.Name, n))
		}
	}
	return errors.Join(errs...)
}

func checkAPIHPA(r *rendered) error {
	var errs []error
	found := 0
	for _, h := range r.HPAs {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != api.deployment {
			continue
		}
		found++
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			errs = append(errs, fmt.Errorf("HPA %s: want minReplicas of at least 2", h.Name))
		}
		if !slices.ContainsFunc(h.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
			return m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
		}) {
			errs = append(errs, fmt.Errorf("HPA %s: no CPU metric", h.Name))
		}
		b := h.Spec.Behavior
		if b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds < 60 {
			errs = append(errs, fmt.Errorf("HPA %s: want a scale-down stabilization window of at least 60 s", h.Name))
		}
	}
	if found != 1 {
		errs = append(errs, fmt.Errorf("%d HPAs scale %s, want 1", found, api.deployment))
	}
	return errors.Join(errs...)
}

// checkMigrate: migrations run once, in a Job, never in a container of a
// Deployment (init containers of every replica would race).
func checkMigrate(r *rendered) error {
	var errs []error
	jobs := 0
	for _, j := range r.Jobs {
		for _, c := range j.Spec.Template.Spec.Containers {
			if runsMigrate(c) {
				jobs++
			}
		}
		if p := j.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
			errs = append(errs, fmt.Errorf("Job %s: restartPolicy %q", j.Name, p))
		}
	}
	if jobs != 1 {
		errs = append(errs, fmt.Errorf("%d Job containers run `usersvc migrate up`, want 1", jobs))
	}
	for _, d := range r.Deployments {
		for _, c := range allContainers(d.Spec.Template.Spec) {
			if runsMigrate(c) || slices.Contains(c.Command, "migrate") {
				errs = append(errs, fmt.Errorf("Deployment %s: container %s runs migrate", d.Name, c.Name))
			}
		}
	}
	return errors.Join(errs...)
}

func runsMigrate(c corev1.Container) bool {
	return len(c.Args) > 0 && c.Args[0] == "migrate" && (len(c.Args) == 1 || c.Args[1] == "up")
}

func checkAPIService(r *rendered) error {
	d, err := r.deployment(api.deployment)
	if err != nil {
		return err
	}
	c, err := mainContainer(d)
	if err != nil {
		return err
	}
	for _, s := range r.Services {
		if !selects(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}, d.Spec.Template.Labels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if port, err := containerPort(c, p.TargetPort); err == nil && slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == port }) {
				return nil
			}
		}
	}
	return fmt.Errorf("no Service sends traffic to a port of %s", d.Name)
}

// checkNetworkPolicies: every pod is isolated both ways (only what a policy
// allows gets through), and each app's port is open to someone.
func checkNetworkPolicies(r *rendered) error {
	var errs []error
	for name, labels := range r.podLabels() {
		for _, typ := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
			if !slices.ContainsFunc(r.NetworkPolicies, func(np *networkingv1.NetworkPolicy) bool {
				return selects(&np.Spec.PodSelector, labels) && slices.Contains(np.Spec.PolicyTypes, typ)
			}) {
				errs = append(errs, fmt.Errorf("%s: no NetworkPolicy of type %s selects its pods", name, typ))
			}
		}
	}
	errs = append(errs, r.eachApp(func(a app, d *appsv1.Deployment) error {
		c, err := mainContainer(d)
		if err != nil {
			return err
		}
		port, err := r.listenPort(c, a.addrEnv)
		if err != nil {
			return err
		}
		if !ingressAllows(r.NetworkPolicies, c, d.Spec.Template.Labels, port) {
			return fmt.Errorf("%s: no NetworkPolicy lets anything reach port %d", d.Name, port)
		}
		return nil
	}))
	return errors.Join(errs...)
}

// podLabels are the pod template labels of every Deployment and Job.
func (r *rendered) podLabels() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, d := range r.Deployments {
		out[d.Name] = d.Spec.Template.Labels
	}
	for _, j := range r.Jobs {
		out[j.Name] = j.Spec.Template.Labels
	}
	return out
}

func ingressAllows(nps []*networkingv1.NetworkPolicy, c corev1.Container, podLabels map[string]string, port int32) bool {
	for _, np := range nps {
		if !selects(&np.Spec.PodSelector, podLabels) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port == nil {
					continue
				}
				if n, err := containerPort(c, *p.Port); err == nil && n == port {
					return true
				}
			}
		}
	}
	return false
}

// checkConfigMap: the Deployments read a ConfigMap that exists.
func checkConfigMap(r *rendered) error {
	var errs []error
	for name, p := range r.pods() {
		for _, c := range p.Containers {
			for _, from := range c.EnvFrom {
				if from.ConfigMapRef != nil && !slices.ContainsFunc(r.ConfigMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == from.ConfigMapRef.Name }) {
					errs = append(errs, fmt.Errorf("%s: ConfigMap %s is not in the build", name, from.ConfigMapRef.Name))
				}
			}
		}
	}
	return errors.Join(errs...)
}
