"""Who is asking and may they: OIDC id_token verification (authn), SubjectAccessReview (authz),
and the Kubernetes object names derived from an identity."""
