"""Build and release tooling (not shipped)."""
