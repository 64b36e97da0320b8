// Package kubevalidate checks Kubernetes objects with upstream code, as an
// API server and admission would, where no cluster is available:
//
//   - custom resources against their CRD's OpenAPI v3 schema
//     (k8s.io/apiextensions-apiserver validation) and its structural schema
//     (unknown fields are reported, as the API server would prune them);
//   - built-in objects by strict decoding into k8s.io/api types (unknown or
//     duplicate fields fail);
//   - every pod template (Deployments, and the operators' pod templates)
//     against Pod Security Standards "restricted"
//     (k8s.io/pod-security-admission).
//
// The CRDs of the operators nano installs are embedded (crds/, copied
// unchanged from ../shared/crds, and cert-manager's ClusterIssuer from its
// release; see crds/README.md).
package kubevalidate

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	sigsjson "sigs.k8s.io/json"
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// CRDFiles returns the embedded CRD files by name (for comparing them with
// their source).
func CRDFiles() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := fs.WalkDir(crdFiles, "crds", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := crdFiles.ReadFile(path)
		out[strings.TrimPrefix(path, "crds/")] = b
		return err
	})
	return out, err
}

type schema struct {
	validator  validation.SchemaValidator
	structural *structuralschema.Structural
}

// Validator validates objects.
type Validator struct {
	schemas map[string]schema // "group/version/Kind"
	pods    policy.Evaluator
}

// New loads the embedded CRDs.
func New() (*Validator, error) {
	v := &Validator{schemas: map[string]schema{}}
	files, err := CRDFiles()
	if err != nil {
		return nil, fmt.Errorf("cannot read embedded CRDs: %w", err)
	}
	for name, b := range files {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var crd apiextv1.CustomResourceDefinition
			if err := dec.Decode(&crd); err != nil {
				if errors.Is(err, errEOF) || err.Error() == "EOF" {
					break
				}
				return nil, fmt.Errorf("cannot decode %s: %w", name, err)
			}
			if crd.Kind != "CustomResourceDefinition" {
				continue
			}
			for _, ver := range crd.Spec.Versions {
				if ver.Schema == nil {
					continue
				}
				var internal apiextensions.CustomResourceValidation
				if err := apiextv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(ver.Schema, &internal, nil); err != nil {
					return nil, fmt.Errorf("%s %s: cannot convert schema: %w", crd.Name, ver.Name, err)
				}
				sv, _, err := validation.NewSchemaValidator(internal.OpenAPIV3Schema)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", crd.Name, ver.Name, err)
				}
				st, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
				if err != nil {
					return nil, fmt.Errorf("%s %s: not a structural schema: %w", crd.Name, ver.Name, err)
				}
				v.schemas[crd.Spec.Group+"/"+ver.Name+"/"+crd.Spec.Names.Kind] = schema{validator: sv, structural: st}
			}
		}
	}
	if v.pods, err = policy.NewEvaluator(policy.DefaultChecks()); err != nil {
		return nil, fmt.Errorf("cannot build the Pod Security evaluator: %w", err)
	}
	return v, nil
}

var errEOF = errors.New("EOF")

// Kinds lists the custom resource kinds the validator knows.
func (v *Validator) Kinds() []string {
	var out []string
	for k := range v.schemas {
		out = append(out, k)
	}
	return out
}

// builtins are the built-in kinds nano emits, decoded strictly.
var builtins = map[string]func() any{
	"v1/Namespace":                             func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                                func() any { return &corev1.Secret{} },
	"v1/PersistentVolumeClaim":                 func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                      func() any { return &appsv1.StatefulSet{} },
	"policy/v1/PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":   func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":             func() any { return &networkingv1.Ingress{} },
	"rbac.authorization.k8s.io/v1/Role":        func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() any { return &rbacv1.RoleBinding{} },
}

// Result is what validating one object found.
type Result struct {
	// Errors: schema violations, unknown fields, strict-decoding failures.
	Errors []error
	// PodSecurity lists the "restricted" controls each pod template fails,
	// keyed by the template's path.
	PodSecurity map[string][]string
	// PodTemplates is the number of pod templates checked.
	PodTemplates int
}

// OK reports whether the object passed everything.
func (r Result) OK() bool { return len(r.Errors) == 0 && len(r.PodSecurity) == 0 }

// Err joins every problem into one error (nil when OK).
func (r Result) Err() error {
	errs := append([]error(nil), r.Errors...)
	for path, fails := range r.PodSecurity {
		errs = append(errs, fmt.Errorf("%s violates Pod Security restricted: %s", path, strings.Join(fails, "; ")))
	}
	return errors.Join(errs...)
}

// Validate checks one object given in its JSON form.
func (v *Validator) Validate(obj map[string]any) Result {
	var r Result
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	key := apiVersion + "/" + kind
	raw, err := json.Marshal(obj)
	if err != nil {
		r.Errors = append(r.Errors, fmt.Errorf("%s: cannot encode: %w", key, err))
		return r
	}
	if newT, ok := builtins[key]; ok {
		typed := newT()
		strict, err := sigsjson.UnmarshalStrict(raw, typed)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Errorf("%s: %w", key, err))
		}
		for _, e := range strict {
			r.Errors = append(r.Errors, fmt.Errorf("%s: %w", key, e))
		}
		if d, ok := typed.(*appsv1.Deployment); ok {
			v.checkPod(&r, kind+".spec.template", &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec)
		}
		if d, ok := typed.(*appsv1.StatefulSet); ok {
			v.checkPod(&r, kind+".spec.template", &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec)
		}
		return r
	}
	s, ok := v.schemas[key]
	if !ok {
		r.Errors = append(r.Errors, fmt.Errorf("%s: no schema or type to validate it against", key))
		return r
	}
	// Validate a copy: pruning mutates.
	var generic any
	_ = json.Unmarshal(raw, &generic)
	for _, e := range validation.ValidateCustomResource(nil, generic, s.validator) {
		r.Errors = append(r.Errors, fmt.Errorf("%s: %s", key, e.Error()))
	}
	for _, path := range pruning.PruneWithOptions(generic, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		r.Errors = append(r.Errors, fmt.Errorf("%s: unknown field %q", key, path))
	}
	v.checkOperatorPodTemplates(&r, key, obj)
	return r
}

// checkOperatorPodTemplates decodes the pod templates of Altinity's
// installations strictly and checks them like any pod.
func (v *Validator) checkOperatorPodTemplates(r *Result, key string, obj map[string]any) {
	spec, _ := obj["spec"].(map[string]any)
	templates, _ := spec["templates"].(map[string]any)
	list, _ := templates["podTemplates"].([]any)
	for i, t := range list {
		tm, _ := t.(map[string]any)
		path := fmt.Sprintf("%s.spec.templates.podTemplates[%d]", key, i)
		raw, _ := json.Marshal(map[string]any{"metadata": tm["metadata"], "spec": tm["spec"]})
		var pod corev1.PodTemplateSpec
		strict, err := sigsjson.UnmarshalStrict(raw, &pod)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Errorf("%s: %w", path, err))
			continue
		}
		for _, e := range strict {
			r.Errors = append(r.Errors, fmt.Errorf("%s: %w", path, e))
		}
		v.checkPod(r, path, &pod.ObjectMeta, &pod.Spec)
	}
}

func (v *Validator) checkPod(r *Result, path string, meta *metav1.ObjectMeta, spec *corev1.PodSpec) {
	r.PodTemplates++
	var fails []string
	for _, res := range v.pods.EvaluatePod(api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}, meta, spec) {
		if !res.Allowed {
			fails = append(fails, res.ForbiddenReason+" ("+res.ForbiddenDetail+")")
		}
	}
	if len(fails) > 0 {
		if r.PodSecurity == nil {
			r.PodSecurity = map[string][]string{}
		}
		r.PodSecurity[path] = fails
	}
}
