"""Access requests (change.md §9): the AccessRequest object, its routes, the credentials
issued under an approved one, and the worker that ends them."""
