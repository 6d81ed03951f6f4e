"""Promotion chains: one chart through a sequence of environments, each step gated by the
backend (`promote`, `promotions`, `approve`; README "Promotions", docs/api.md)."""
