"""The audit trail: one JSON line per issuance and denial, and aggregated Events."""
