"""The HTTP layer (FastAPI): app factory, routes, middleware, error bodies; no business logic."""
