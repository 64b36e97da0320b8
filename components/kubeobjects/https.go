package kubeobjects

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HTTPS on the Ingress: plain HTTP only ever answers with a redirect to
// HTTPS (and cert-manager's ACME HTTP-01 challenges, whose solver Ingress
// has a longer path, so Traefik prefers its route), and every HTTPS answer
// carries Strict-Transport-Security.
//
// With Traefik (the controller of every cluster nano builds: k3s', Civo's,
// or the chart the platform installs) that is two Middlewares and two
// Ingresses: the HTTPS one bound to the websecure entrypoint with the HSTS
// middleware, and one on the web entrypoint whose middleware redirects.
// Without the entrypoint annotation Traefik serves an Ingress on every
// entrypoint, plain HTTP included. Another class (an existing cluster's
// nano:ingressClass) gets neither: its controller must redirect and send
// HSTS itself (ingress-nginx does both for an Ingress with TLS by default).
const (
	// HSTSMaxAge is the Strict-Transport-Security max-age: a year.
	HSTSMaxAge = 31536000
	// Middlewares in nano's namespace, as Traefik's annotations name them.
	MiddlewareHSTS     = "hsts"
	MiddlewareRedirect = "https-redirect"
	// HTTPIngress is the Ingress of the web entrypoint (redirects only).
	HTTPIngress = "nano-http"

	traefikEntrypoints = "traefik.ingress.kubernetes.io/router.entrypoints"
	traefikTLS         = "traefik.ingress.kubernetes.io/router.tls"
	traefikMiddlewares = "traefik.ingress.kubernetes.io/router.middlewares"
	certManagerIssuer  = "cert-manager.io/cluster-issuer"
)

// TraefikMiddleware is how Traefik's Ingress annotation names a Middleware
// of nano's namespace.
func TraefikMiddleware(name string) string { return Namespace + "-" + name + "@kubernetescrd" }

// traefik reports whether the Ingress is served by Traefik.
func (s Spec) traefik() bool { return s.ingressClass() == IngressClassTraefik }

// httpsAnnotations are the HTTPS Ingress's: its certificate's issuer and,
// on Traefik, the websecure entrypoint with TLS and HSTS.
func (s Spec) httpsAnnotations() map[string]string {
	a := map[string]string{certManagerIssuer: ClusterIssuer}
	if s.traefik() {
		a[traefikEntrypoints], a[traefikTLS], a[traefikMiddlewares] = "websecure", "true", TraefikMiddleware(MiddlewareHSTS)
	}
	return a
}

// httpRedirect is, on Traefik, the HSTS and redirect Middlewares and the
// web entrypoint's Ingress, which routes the HTTPS Ingress's hosts and
// paths to the redirect.
func (s Spec) httpRedirect(https networkingv1.Ingress) []Object {
	if !s.traefik() {
		return nil
	}
	middleware := func(name string, spec map[string]any) Object {
		return Object{
			"apiVersion": "traefik.io/v1alpha1",
			"kind":       "Middleware",
			"metadata":   map[string]any{"name": name, "namespace": Namespace, "labels": toAny(labels("nano"))},
			"spec":       spec,
		}
	}
	http := networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: HTTPIngress, Namespace: Namespace, Labels: labels("nano"),
			Annotations: map[string]string{traefikEntrypoints: "web", traefikMiddlewares: TraefikMiddleware(MiddlewareRedirect)}},
		Spec: networkingv1.IngressSpec{IngressClassName: https.Spec.IngressClassName, Rules: https.Spec.Rules},
	}
	return []Object{
		middleware(MiddlewareHSTS, map[string]any{"headers": map[string]any{
			// Sent on every answer of the websecure entrypoint, whatever
			// a proxy in front of Traefik says of the scheme.
			"stsSeconds": HSTSMaxAge, "forceSTSHeader": true,
		}}),
		middleware(MiddlewareRedirect, map[string]any{"redirectScheme": map[string]any{
			"scheme": "https", "permanent": true,
		}}),
		typed("networking.k8s.io/v1", "Ingress", http),
	}
}
