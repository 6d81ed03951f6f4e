"""Helm releases, read side: release records on a target read with the backend's own
release-reader credential, decoded (both drivers, both majors) and redacted to what
`helm list|history|status` print."""
