"""Promotion chains: one chart through a series of environments, each step gated here."""
