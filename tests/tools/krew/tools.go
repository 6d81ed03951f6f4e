//go:build tools

// Package krew pins the krew CLI (kubectl krew) that tests/e2e/test_dist_krew.py builds
// with `go build sigs.k8s.io/krew/cmd/krew` to install the plugin from dist/.
package krew

import _ "sigs.k8s.io/krew/cmd/krew"
