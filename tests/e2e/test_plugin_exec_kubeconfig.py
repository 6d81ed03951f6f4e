"""The exec-credential kubeconfig against the real stack: the real kubectl and the Python
client reach a Scipian environment through `kubectl-scipian ... credential`.

Expiry: environments cannot live shorter than the backend's 600 s minimum (TokenRequest's
own floor), so a test cannot wait for a token to die. Instead the cache record's clock is
moved (as `test_plugin_access` does): the plugin then treats the credential as expired and
fetches a new one, which is exactly what happens at a real expiry; the issuance counter of a
test-owned backend shows one issuance per expiry. A token dying early is real: the backend's
`revoke` deletes its session Secret, and the next kubectl run must still work.

helm through the same kubeconfig: tests/e2e/test_plugin_exec_helm.py.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import Stack
from tests.e2e.test_plugin_access import (
    AUTH,
    HINT,
    Kubeconfig,
    cluster_status,
    issuances,
    kubeconfig_files,
    login,
    make_env,
    secrets_of,
    set_times,
)
from tests.helpers import pod_with_logs
from tests.stack.backend_daemon import BackendProcess, admin_cli, spawn_backend
from tests.stack.login import run_plugin
from tests.stack.paths import venv_bin

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def backend(stack: Stack) -> Iterator[BackendProcess]:
    """A backend of this module's own: its /metrics counts only our issuances."""
    process = spawn_backend(
        stack.env["STACK_IDP_ISSUER"], stack.env["STACK_IDP_CLIENT_ID"], name="exec"
    )
    try:
        yield process
    finally:
        process.stop()


def exec_env(stack: Stack, tmp_path: Path, backend_url: str) -> dict[str, str]:
    """The plugin on PATH (kubectl runs it by name), HOME and KUBECONFIG in tmp_path."""
    env = make_env(stack, tmp_path / "config", backend_url)
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path / "home")
    env.pop("KUBECONFIG", None)
    (tmp_path / "home").mkdir(parents=True)
    return env


def kubectl(stack: Stack, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [stack.kubectl_path, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_kubeconfig(env: dict[str, str], env_id: str, path: Path) -> Path:
    done = run_plugin([env_id, "kubeconfig", "--output", str(path)], env)
    assert done.returncode == 0, done.stderr
    return path


def pod_names(table: str) -> list[str]:
    return [line.split()[0] for line in table.splitlines()[1:]]


def test_kubectl_through_the_exec_credential_one_issuance_per_expiry(
    stack: Stack, backend: BackendProcess, tmp_path: Path
) -> None:
    env = login(stack, "carol", exec_env(stack, tmp_path, backend.url))
    before = issuances(backend.url, "dev")
    path = write_kubeconfig(env, "dev", tmp_path / "dev.kubeconfig")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "token" not in text
    assert not [s for s in secrets_of(Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"])) if s in text]
    assert not (tmp_path / "home" / ".kube" / "config").exists()

    # this test's own pod in its own namespace: other tests' pods come and go meanwhile
    with pod_with_logs(stack, "exec-kubeconfig", ["hello"]) as (ns, pod):
        for _ in range(3):
            got = kubectl(stack, env, "--kubeconfig", str(path), "get", "pods", "-n", ns)
            assert got.returncode == 0, got.stderr
            assert pod_names(got.stdout) == [pod], got.stderr
        plugin = run_plugin(["dev", "get", "pods", "-n", ns], env)
        assert pod_names(plugin.stdout) == [pod], plugin.stderr
    assert issuances(backend.url, "dev") - before == 1  # the kubeconfig command's, reused

    for expiry in (1, 2):
        [record] = kubeconfig_files(env)
        set_times(record, fetched=time.time() - 901, expires=time.time() - 1)
        with ThreadPoolExecutor(4) as pool:
            runs = list(
                pool.map(
                    lambda _: kubectl(stack, env, "--kubeconfig", str(path), "get", "ns"),
                    range(4),
                )
            )
        assert [r.stderr for r in runs if r.returncode != 0] == []
        assert all("kube-system" in r.stdout for r in runs)
        assert issuances(backend.url, "dev") - before == 1 + expiry


def test_credential_document_and_no_prompt_when_not_interactive(
    idp_stack: Stack, tmp_path: Path
) -> None:
    """Once per provider pair: the pair's own backend."""
    stack = idp_stack
    env = login(stack, "alice", exec_env(stack, tmp_path / "a", stack.env["SCIPIAN_BACKEND_URL"]))
    beta = {"apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {"interactive": False}}
    got = run_plugin(["-v", "dev", "credential"], env | {"KUBERNETES_EXEC_INFO": json.dumps(beta)})
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert (doc["apiVersion"], doc["kind"]) == (beta["apiVersion"], "ExecCredential")
    assert set(doc["status"]) == {"token", "expirationTimestamp"}
    assert doc["status"]["expirationTimestamp"].endswith("Z")
    assert doc["status"]["token"] not in got.stderr and "Bearer" not in got.stderr
    assert doc["status"]["token"] in secrets_of(Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]))

    denied = run_plugin(["dev", "credential"], env | {"KUBECTL_SCIPIAN_CONFIG_DIR": "/nonexist"})
    assert (denied.returncode, denied.stdout, denied.stderr) == (1, "", AUTH + HINT)
    prod = run_plugin(["prod", "credential"], env)
    assert (prod.returncode, prod.stdout, prod.stderr) == (1, "", AUTH)

    # kubectl without a terminal says interactive=false: the plugin fails at once.
    path = write_kubeconfig(env, "dev", tmp_path / "a" / "dev.kubeconfig")
    doc = yaml.safe_load(path.read_text())
    # The kubeconfig names the cache it was made with; point it at an empty one instead.
    doc["users"][0]["user"]["exec"]["env"][0]["value"] = str(tmp_path / "empty")
    path.write_text(yaml.safe_dump(doc))
    started = time.monotonic()
    failed = kubectl(stack, env, "--kubeconfig", str(path), "get", "pods")
    assert failed.returncode == 1 and time.monotonic() - started < 30
    assert "Invalid authentication for provided environment." in failed.stderr


def test_revoked_token_recovers_on_the_next_kubectl_run(
    stack: Stack, backend: BackendProcess, tmp_path: Path
) -> None:
    env = login(stack, "bob", exec_env(stack, tmp_path, backend.url))
    path = write_kubeconfig(env, "prod", tmp_path / "prod.kubeconfig")
    assert kubectl(stack, env, "--kubeconfig", str(path), "get", "ns").returncode == 0
    [record] = kubeconfig_files(env)
    old = Kubeconfig(json.loads(record.read_text())["kubeconfig"])
    revoked = admin_cli("revoke", "--env=prod", "--user=bob@example.test")
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 60
    while cluster_status(old, tmp_path) != 401:  # the apiserver's token cache, waited out
        assert time.monotonic() < deadline, "the revoked token still works"
        time.sleep(1)
    before = issuances(backend.url, "prod")
    got = kubectl(stack, env, "--kubeconfig", str(path), "get", "ns")
    assert got.returncode == 0, got.stderr
    assert "kube-system" in got.stdout
    assert issuances(backend.url, "prod") - before == 1


def test_python_client_through_the_exec_credential_across_expiry(
    stack: Stack, backend: BackendProcess, tmp_path: Path
) -> None:
    from kubernetes import client, config

    env = login(stack, "carol", exec_env(stack, tmp_path, backend.url))
    path = write_kubeconfig(env, "prod", tmp_path / "prod.kubeconfig")
    # A credential with 20 s left: the client gets an expiry ~15 s away and must come back.
    [record] = kubeconfig_files(env)
    set_times(record, fetched=time.time() - 1, expires=time.time() + 20)
    before = issuances(backend.url, "prod")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the exec provider passes this process's environment on
    try:
        api_client = config.new_client_from_config(str(path))
        core = client.CoreV1Api(api_client)
        first = core.list_namespace()
        assert "kube-system" in [n.metadata.name for n in first.items]
        assert issuances(backend.url, "prod") == before
        time.sleep(16)
        second = core.list_namespace()
        assert "kube-system" in [n.metadata.name for n in second.items]
        assert issuances(backend.url, "prod") - before == 1
        core.list_namespace()
        assert issuances(backend.url, "prod") - before == 1
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_merge_into_home_kubeconfig_keeps_other_entries(
    stack: Stack, backend: BackendProcess, tmp_path: Path
) -> None:
    env = login(stack, "carol", exec_env(stack, tmp_path, backend.url))
    home_config = tmp_path / "home" / ".kube" / "config"
    assert run_plugin(["dev", "kubeconfig"], env).returncode == 0
    assert not home_config.exists()  # stdout only, ~/.kube untouched

    home_config.parent.mkdir()
    other = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "other", "cluster": {"server": "https://192.0.2.1"}}],
        "users": [{"name": "other", "user": {"token": "not-ours"}}],
        "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
        "current-context": "other",
    }
    home_config.write_text(yaml.safe_dump(other))
    for env_id in ("dev", "prod", "dev"):
        done = run_plugin([env_id, "kubeconfig", "--merge"], env)
        assert done.returncode == 0, done.stderr
        assert "Merged context" in done.stderr
    merged = yaml.safe_load(home_config.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["other", "dev", "prod"]
    assert merged["users"][0] == other["users"][0]
    assert merged["current-context"] == "other"
    assert stat.S_IMODE(home_config.stat().st_mode) == 0o600
    assert yaml.safe_load((home_config.parent / "config.bak").read_text())["contexts"]
    for env_id in ("dev", "prod"):
        got = kubectl(stack, env, "--context", env_id, "get", "ns")
        assert got.returncode == 0 and "kube-system" in got.stdout, got.stderr

    # $KUBECONFIG's first file is the one merged into, as kubectl would write.
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    env2 = env | {"KUBECONFIG": f"{first}{os.pathsep}{second}"}
    assert run_plugin(["dev", "kubeconfig", "--merge"], env2).returncode == 0
    assert first.exists() and not second.exists()
    assert yaml.safe_load(home_config.read_text()) == merged
