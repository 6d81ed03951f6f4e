"""The dashboard (`/ui/`): server-rendered pages over the backend's own use cases, behind an
OIDC login of its own (docs/ui.md)."""
