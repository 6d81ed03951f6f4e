"""The backend's container image runs as its Deployment would, against the stack.

Containers cannot be started here (the runtime's setrlimit is refused), so the test does
what a runtime does, with plain tools: the image's root filesystem (a buildah working
container, mounted) becomes read-only in a mount namespace of its own, /tmp is a writable
directory of the test's (the chart's emptyDir), and the image's ENTRYPOINT runs under
`chroot` as the image's USER with the image's Env. The network namespace is shared, so the
backend reaches the stack's management cluster and OIDC provider over loopback, and the
test asks it /healthz and /readyz as the kubelet would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack
from tests.stack import backend_daemon
from tools import image

pytestmark = pytest.mark.stack

# The mount namespace a runtime would set up: the image read-only, /tmp writable.
RUNTIME = """set -eu
mount --bind "$ROOTFS" "$ROOTFS"
mount -o remount,bind,ro "$ROOTFS"
mount --bind "$WRITABLE" "$ROOTFS/tmp"
exec chroot --userspec="$USERSPEC" "$ROOTFS" "$@"
"""


@dataclass(frozen=True)
class Unpacked:
    rootfs: Path
    config: dict[str, Any]  # the image's OCI config: User, Env, Entrypoint, Cmd


@pytest.fixture(scope="module")
def unpacked() -> Iterator[Unpacked]:
    ref = image.build()  # cached: `make test` has built it already (make image)
    inspected = image.buildah("inspect", "--type=image", ref).stdout
    config = json.loads(inspected)["OCIv1"]["config"]
    container = image.buildah("from", "--pull-never", ref).stdout.strip()
    try:
        rootfs = Path(image.buildah("mount", container).stdout.strip())
        yield Unpacked(rootfs, config)
    finally:
        image.buildah("rm", container, check=False)


def test_image_holds_only_the_backend_and_runs_non_root(unpacked: Unpacked) -> None:
    assert unpacked.config["User"] == "65532:65532"
    assert unpacked.config["Entrypoint"] == ["/opt/scipian/bin/python", "-m", "scipian_backend"]
    (site,) = (unpacked.rootfs / "opt" / "scipian" / "lib").glob("python3.*/site-packages")
    installed = {p.name for p in site.iterdir()}
    assert "scipian_backend" in installed and "prometheus_client" in installed
    # Neither the plugin nor the installers: nothing in the image installs at run time.
    assert not installed & {"kubectl_scipian", "pip", "setuptools"}


def test_image_carries_the_pinned_helm(unpacked: Unpacked) -> None:
    """The backend's own helm (serve --helm, the chart's helm.path): the Helm 4 built from
    tests/tools/helm4's module, byte for byte, executable by everyone."""
    from tests import tools

    helm = unpacked.rootfs / "usr" / "local" / "bin" / "helm"
    assert helm.read_bytes() == tools.helm4().read_bytes()
    assert helm.stat().st_mode & 0o777 == 0o755


def test_image_serves_healthz_and_readyz_on_a_read_only_root(
    stack: Stack, unpacked: Unpacked, tmp_path: Path
) -> None:
    uid, gid = (int(n) for n in unpacked.config["User"].split(":"))
    writable = tmp_path / "tmp"
    writable.mkdir(mode=0o700)
    os.chown(writable, uid, gid)
    # The backend's own least-privilege identity on mgmt, as the stack's backend uses it.
    kubeconfig = writable / "mgmt.kubeconfig"
    shutil.copyfile(backend_daemon.mgmt_kubeconfig(), kubeconfig)
    os.chown(kubeconfig, uid, gid)
    kubeconfig.chmod(0o600)
    port = backend_daemon.free_port()
    args = [
        "--mgmt-kubeconfig=/tmp/mgmt.kubeconfig",
        "serve",
        "--host=127.0.0.1",  # the chart's 0.0.0.0 would listen beyond this machine
        f"--port={port}",
        f"--issuer={stack.env['STACK_IDP_ISSUER']}",
        f"--client-id={stack.env['STACK_IDP_CLIENT_ID']}",
    ]
    env = dict(e.split("=", 1) for e in unpacked.config["Env"])
    env |= {"ROOTFS": str(unpacked.rootfs), "WRITABLE": str(writable)}
    env["USERSPEC"] = unpacked.config["User"]
    log = tmp_path / "backend.log"
    argv = ["unshare", "--mount", "sh", "-c", RUNTIME, "runtime"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*argv, *unpacked.config["Entrypoint"], *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        answers = _wait_ready(url, process, log)
        assert answers == {"/healthz": (200, "ok\n"), "/readyz": (200, "ok\n")}
        metrics = requests.get(f"{url}/metrics", timeout=10)
        assert metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        # The server itself (the exec'd entrypoint) runs as the image's user.
        status = Path(f"/proc/{process.pid}/status").read_text()
        assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status
    finally:
        process.terminate()
        process.wait(30)
    text = log.read_text()
    assert "Traceback" not in text and "Read-only file system" not in text, text


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0
) -> dict[str, tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the image's backend exited:\n{log.read_text()}")
        try:
            ready = requests.get(f"{url}/readyz", timeout=3)
        except requests.ConnectionError:
            time.sleep(0.2)
            continue
        if ready.status_code == 200:
            health = requests.get(f"{url}/healthz", timeout=3)
            return {
                "/healthz": (health.status_code, health.text),
                "/readyz": (ready.status_code, ready.text),
            }
        time.sleep(0.2)
    raise AssertionError(f"the image's backend never became ready:\n{log.read_text()}")
