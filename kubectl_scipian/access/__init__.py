"""Getting in: the login and its silent refresh, a kubeconfig per environment, the cache."""
