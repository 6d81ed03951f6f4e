"""Environments: the Environment store on the management cluster, cached lookups, and the
admin use cases (register, list, revoke) with the server-side apply they use."""
