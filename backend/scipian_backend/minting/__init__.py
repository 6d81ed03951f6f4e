"""Minting short-lived credentials on a target cluster: per-user ServiceAccounts and
bindings, per-session Secrets, TokenRequest; the issued kubeconfig; revocation."""
