"""`python -m scipian_backend serve` refuses identity settings that give clusters away: one
line on stderr, exit 2, before anything is read or listens (no stack needed).

An empty claim prefix lets a provider's `groups: ["system:masters"]` pass every
SubjectAccessReview; an http:// issuer off loopback lets anyone on the path swap the JWKS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    with socket.socket() as s:  # a port nothing listens on, should the server start anyway
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scipian_backend",
            f"--mgmt-kubeconfig={ROOT / 'no-such.kubeconfig'}",
            "serve",
            "--host=127.0.0.1",
            f"--port={port}",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("SCIPIAN_")},
    )


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (
            ["--issuer=https://idp.example.test", "--username-prefix="],
            "scipian-backend: --username-prefix must not be empty: claims would name "
            "Kubernetes users and groups themselves (system:masters)",
        ),
        (
            ["--issuer=https://idp.example.test", "--groups-prefix="],
            "scipian-backend: --groups-prefix must not be empty: claims would name "
            "Kubernetes users and groups themselves (system:masters)",
        ),
        (
            ["--issuer=https://idp.example.test", "--groups-prefix=system:"],
            "scipian-backend: --groups-prefix 'system:' would make Kubernetes system identities",
        ),
        (
            ["--issuer=http://idp.example.test:5556"],
            "scipian-backend: issuer 'http://idp.example.test:5556' is plain http off this "
            "machine: use https (http only on loopback: 127.0.0.0/8, ::1, localhost)",
        ),
        (
            ["--issuer=http://10.1.2.3/dex"],
            "scipian-backend: issuer 'http://10.1.2.3/dex' is plain http off this machine: "
            "use https (http only on loopback: 127.0.0.0/8, ::1, localhost)",
        ),
    ],
    ids=["empty-username-prefix", "empty-groups-prefix", "system-prefix", "http-name", "http-ip"],
)
def test_serve_refuses(flags: list[str], line: str) -> None:
    done = serve(*flags)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [line]
    assert done.stdout == ""


@pytest.mark.parametrize(
    "flag",
    ["--max-token-lifetime=59", "--max-token-lifetime=86401", "--jwks-min-refetch=-1"],
)
def test_serve_refuses_numbers_out_of_range(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    from scipian_backend.__main__ import main

    argv = ["--mgmt-kubeconfig=/nonexistent", "serve", "--issuer=https://idp.example.test", flag]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scipian-backend: {flag.split('=')[0]} must be between ")
    assert len(err.splitlines()) == 1


def test_a_loopback_http_issuer_passes_these_checks() -> None:
    """The same command with a loopback issuer gets past them: it fails later, on the
    missing management kubeconfig, which shows the refusals above are the checks'."""
    done = serve("--issuer=http://127.0.0.1:1")
    assert done.returncode != 0
    assert "prefix" not in done.stderr and "plain http" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    ("flags", "start"),
    [
        (["--worker-renew-seconds=20"], "need 0 < --worker-renew-seconds"),
        (["--worker-lost-after-seconds=30"], "need 0 < --worker-renew-seconds"),
        (["--worker-threads=0"], "--worker-threads must be between"),
        (["--worker-lease-seconds=2"], "--worker-lease-seconds must be between"),
        (["--replica-id=a b"], "--replica-id must be"),
    ],
)
def test_serve_refuses_worker_settings_out_of_bounds(
    flags: list[str], start: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker room's flags (docs/backend.md): one line, exit 2, before any cluster."""
    from scipian_backend.__main__ import main

    argv = ["--mgmt-kubeconfig=/nonexistent", "serve", "--issuer=https://idp.example.test", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scipian-backend: {start}"), err
    assert len(err.splitlines()) == 1
