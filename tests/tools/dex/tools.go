//go:build tools

// Package dex pins Dex (github.com/dexidp/dex v2.45.1), the stack's second OIDC provider,
// built with `go build github.com/dexidp/dex/cmd/dex` by tests/tools (cached by hash).
// v2.45.1 is a release tag the module proxy knows only as a pseudo-version; its own
// `replace` of api/v2 does not apply here, so api/v2 is required at its release v2.4.0.
package dex

import _ "github.com/dexidp/dex/cmd/dex"
