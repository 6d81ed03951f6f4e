"""The exec credential mechanism: the ExecCredential kubectl, helm and k9s run us for, and
the exec kubeconfig that makes them do so."""
