//go:build tools

// Package helm pins the Helm CLI that tests/e2e/test_helm_chart.py and
// tests/e2e/test_plugin_exec_helm.py build with `go build helm.sh/helm/v3/cmd/helm`.
package helm

import _ "helm.sh/helm/v3/cmd/helm"
