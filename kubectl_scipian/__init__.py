"""kubectl-scipian: short-lived, audited, per-environment access to Scipian clusters."""

__version__ = "0.1.0"
