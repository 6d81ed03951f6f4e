"""One read across several environments: which ones, reading them in parallel, one merged
output."""
