"""The Scipian backend as the plugin sees it: its HTTP API (docs/api.md) and what an issued
kubeconfig may hold."""
