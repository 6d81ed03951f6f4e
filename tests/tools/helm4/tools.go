//go:build tools

// Package helm4 pins the Helm 4 CLI (the current major) that the helm read tests compare
// the plugin's `helm list|history|status` with; tests/tools/helm keeps Helm 3 for records
// written by the previous major.
package helm4

import _ "helm.sh/helm/v4/cmd/helm"
