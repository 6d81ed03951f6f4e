"""Shared plumbing: private files, time formats, the start-up import stand-ins."""
