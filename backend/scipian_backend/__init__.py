"""The Scipian backend: verifies OIDC, authorizes with RBAC, mints short-lived credentials."""

__version__ = "0.1.0"
