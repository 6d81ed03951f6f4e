"""`kubectl scipian ENV helm list|history|status`: Helm 4's output from the backend's
redacted release records (docs/api.md), one environment or several."""
