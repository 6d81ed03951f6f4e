"""The backend's own helm: one sandbox for every run (sandbox.py), what a render is as
digests (render.py), and helm's -o json (output.py)."""

from scipian_backend.helmrun.output import ReleaseOut, release_json
from scipian_backend.helmrun.sandbox import HelmBusy, HelmResult, HelmSandbox, Workspace

__all__ = ["HelmBusy", "HelmResult", "HelmSandbox", "ReleaseOut", "Workspace", "release_json"]
