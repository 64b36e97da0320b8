//go:build tools

// Package kubeserver pins the Kubernetes control plane's source so that
// tests/setup can build kube-apiserver, kube-controller-manager and
// kube-scheduler from the module cache.
package kubeserver

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
