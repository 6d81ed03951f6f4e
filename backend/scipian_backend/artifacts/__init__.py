"""Uploaded chart archives (change.md §5 "Upload"): inspected in memory (inspect.py),
stored as Secrets in scipian-artifacts on mgmt (store.py), the upload use case
(upload.py) and its route (routes.py)."""
