"""Access requests (change.md §9): asked for, approved by others, a bounded window."""
