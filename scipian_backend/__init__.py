"""The Scipian backend: verifies OIDC, authorizes with RBAC, mints short-lived credentials."""
