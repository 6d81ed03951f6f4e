"""Runs one read command through kubectl-scipian's code or the real kubectl, same credentials.

As a program: `python -m tests.e2e.parity_runner KUBECONFIG CACHE_DIR VERB ARGS...`
calls `kubectl_scipian.read.run()` (until the plugin CLI exists). Once it does,
`PLUGIN_COMMAND` becomes `["kubectl", "scipian", "dev"]` and nothing else changes.

As a module: `Parity` gives the tests a view-role ServiceAccount kubeconfig (a
TokenRequest token, what the backend hands out) and the comparison helpers.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests import read_recordings

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def plugin_command(kubeconfig: Path, cache_dir: Path) -> list[str]:
    """The one line to change when `kubectl scipian dev` exists."""
    return [PY, "-m", "tests.e2e.parity_runner", str(kubeconfig), str(cache_dir)]


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str


# Go HumanDuration values in a table cell (`5s`, `3m2s`, `47h`, `2d3h`, `2y70d`)
AGE = re.compile(r"(?<![\w.:/-])\d+[smhdy](?:\d+[smhd])?(?![\w.:/-])")
# klog lines kubectl prints on discovery failures (timestamps and pids vary)
KLOG = re.compile(r"^[EWI]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^\n]*\n", re.M)


def normalize_ages(text: str) -> str:
    return re.sub(r"[ \t]+", " ", AGE.sub("<age>", text))


@dataclass
class Parity:
    kubectl: str
    kubeconfig: Path
    cache_dir: Path

    def kubectl_argv(self) -> list[str]:
        """The real kubectl with a discovery cache of this Parity's own, as fresh as the
        plugin's: kubectl's default one (~/.kube/cache, per host:port, kept 6 h) may hold
        what an earlier run, or another stack on a reused port, saw, e.g. which CRDs
        claimed a short name before a new one came."""
        cache = self.cache_dir.with_name(self.cache_dir.name + "-kubectl")
        return [self.kubectl, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={cache}"]

    def run_kubectl(self, verb: str, *args: str, timeout: float = 60) -> Result:
        p = subprocess.run(
            [*self.kubectl_argv(), verb, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        return Result(p.returncode, p.stdout, KLOG.sub("", p.stderr))

    def run_plugin(
        self,
        verb: str,
        *args: str,
        timeout: float = 60,
        env: dict[str, str] | None = None,
        cache_dir: Path | None = None,
    ) -> Result:
        p = subprocess.run(
            [*plugin_command(self.kubeconfig, cache_dir or self.cache_dir), verb, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env={**os.environ, **env} if env else None,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    def compare(
        self, verb: str, *args: str, ages: bool = True, record: str | None = None
    ) -> tuple[Result, Result]:
        """Both tools, a few times if ages ticked over between them; exact when possible.

        `record`: the suite this case belongs to in tests/data/read/, when recording
        (tests/read_recordings.py); the runs are then recorded too.
        """
        directory = os.environ.get(read_recordings.DIR_ENV)
        if record and directory:
            return self._recorded(Path(directory), record, verb, args)
        for _ in range(3):
            want = self.run_kubectl(verb, *args)
            got = self.run_plugin(verb, *args)
            if got == want:
                return want, got
            if not ages or normalize(got) != normalize(want):
                break
            time.sleep(0.3)
        if ages and normalize(got) == normalize(want):
            return want, want  # equal but for ages that ticked between the runs
        return want, got

    def _recorded(
        self, directory: Path, suite: str, verb: str, args: tuple[str, ...]
    ) -> tuple[Result, Result]:
        """kubectl, then the plugin with its requests recorded and its clock at kubectl's end.

        The server's tables carry ages to the second, so both runs start early in one
        second, and the plugin's discovery is warmed (and recorded) by a run before.
        """
        same = _same_blocks if suite == "logs" and _multi_source(args) else _same
        with tempfile.TemporaryDirectory() as tmp:
            warm_up = Path(tmp) / "warm-up.json"
            exchanges = Path(tmp) / "exchanges.json"

            def plugin(target: Path, now: datetime) -> Result:
                env = {
                    read_recordings.RECORD_ENV: str(target),
                    read_recordings.CLOCK_ENV: now.isoformat(),
                }
                return self.run_plugin(verb, *args, env=env, cache_dir=Path(tmp) / "cache")

            plugin(warm_up, datetime.now(timezone.utc))
            discovery = [e for e in json.loads(warm_up.read_text()) if _is_discovery(e["key"])]
            for _ in range(5):
                time.sleep(1.02 - time.time() % 1)  # just after a second starts
                want = self.run_kubectl(verb, *args)
                now = datetime.now(timezone.utc)  # kubectl prints last, ages as of then
                got = plugin(exchanges, now)
                if same(got, want):
                    break
            recorded = discovery + json.loads(exchanges.read_text())
        config = json.loads(self.kubeconfig.read_text())
        case = {
            "order": next(_order),
            "id": " ".join([verb, *args]),
            "verb": verb,
            "args": list(args),
            "now": now.isoformat(),
            "compare": "source-blocks" if same is _same_blocks else "exact",
            "kubectl": {"rc": want.rc, "out": want.out, "err": want.err},
            "server": config["clusters"][0]["cluster"]["server"],
            "exchanges": recorded,
        }
        path = read_recordings.case_file(directory, suite, case["id"])
        path.write_text(json.dumps(case))
        if not same(got, want) and normalize(got) == normalize(want):
            return want, want  # equal but for ages that ticked between the runs (as compare)
        return want, got


def _is_discovery(key: str) -> bool:
    """/api, /apis (aggregated), or a group version's resource list (the older discovery)."""
    return key.startswith(("json /api [", "json /apis [")) or bool(
        re.match(r"json (/api/[^/?]+|/apis/[^/?]+/[^/?]+) \[application/json\]$", key)
    )


_order = itertools.count()


def _multi_source(args: tuple[str, ...]) -> bool:
    return "--all-containers" in args or "-l" in args


def _same(a: Result, b: Result) -> bool:
    return a == b


def _same_blocks(a: Result, b: Result) -> bool:
    return (a.rc, a.err) == (b.rc, b.err) and read_recordings.source_blocks(
        a.out
    ) == read_recordings.source_blocks(b.out)


def normalize(r: Result) -> Result:
    return Result(r.rc, normalize_ages(r.out), normalize_ages(r.err))


def running_dev_env() -> dict[str, str] | None:
    """The stack's env when its dev cluster answers, whatever the state of the rest.

    The parity suite needs only `dev`; it must not start a second stack while an
    engineer restarts one or a part it does not use (mgmt, backend) is down.
    """
    from tests.stack import envfile

    env = envfile.read()
    kubeconfig = env.get("STACK_DEV_KUBECONFIG") if env else None
    if not env or not kubeconfig or not Path(kubeconfig).exists():
        return None
    p = subprocess.run(
        [env["STACK_KUBECTL"], f"--kubeconfig={kubeconfig}", "get", "--raw", "/readyz"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return env if p.returncode == 0 else None


def view_kubeconfig(admin_kubeconfig: Path, kubectl: str, dest: Path) -> Path:
    """A ServiceAccount bound to `view`, with a TokenRequest token, as a kubeconfig file."""

    def k(*args: str, input: str | None = None) -> str:
        return subprocess.run(
            [kubectl, f"--kubeconfig={admin_kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=True,
            input=input,
        ).stdout

    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scipian-parity"}},
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "viewer", "namespace": "scipian-parity"},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "scipian-parity-viewer"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "view",
                },
                "subjects": [
                    {"kind": "ServiceAccount", "name": "viewer", "namespace": "scipian-parity"}
                ],
            },
        ],
    }
    k("apply", "-f", "-", input=json.dumps(manifest))
    token = k("create", "token", "viewer", "-n", "scipian-parity", "--duration=2h").strip()
    raw: dict[str, Any] = json.loads(k("config", "view", "--raw", "-o", "json"))
    cluster = raw["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "dev",
                "cluster": {
                    "server": cluster["server"],
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [{"name": "viewer", "user": {"token": token}}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "viewer"}}],
        "current-context": "dev",
    }
    dest.write_text(json.dumps(config))
    dest.chmod(0o600)
    return dest


def apply(admin_kubeconfig: Path, kubectl: str, docs: list[dict[str, Any]]) -> None:
    subprocess.run(
        [kubectl, f"--kubeconfig={admin_kubeconfig}", "apply", "-f", "-"],
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
        capture_output=True,
        text=True,
        check=True,
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def main(argv: list[str]) -> int:
    import json as _json

    from kubectl_scipian.read import run

    kubeconfig = _json.loads(Path(argv[0]).read_text())
    with read_recordings.runner_hooks():
        return run(
            argv[2],
            argv[3:],
            kubeconfig,
            env_id="dev",
            cache_dir=Path(argv[1]),
            stdout=sys.stdout.buffer,
            stderr=sys.stderr,
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
