"""Access requests (change.md §9): the plugin side of `ENV request`, `requests` and the
approvers' `approve-request`, `deny-request`, `revoke-request`."""
