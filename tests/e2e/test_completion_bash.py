"""Completion driven for real: bash with `kubectl scipian completion bash` sourced (for
`kubectl-scipian` and an alias), kubectl's own plugin completion through
`kubectl_complete-scipian`, and `kubectl scipian alias` against the stack's backend."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.helpers import registered_environments
from tests.stack.login import plugin_env, plugin_login
from tests.stack.paths import venv_bin


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def bash_complete(env: dict[str, str], line: list[str], aliases: str = "") -> list[str]:
    """COMPREPLY for the last word of `line`, as bash computes it on <TAB>."""
    words = " ".join(f"'{w}'" for w in line)
    script = f"""
{aliases}
source <(kubectl-scipian completion bash)
COMP_WORDS=({words}); COMP_CWORD={len(line) - 1}
cmd=${{COMP_WORDS[0]}}
func=$(complete -p "$cmd" | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')
"$func" "$cmd" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = run(["bash", "-c", script], env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.fixture
def cached(tmp_path: Path) -> dict[str, str]:
    """A plugin cache with `dev` (a kubeconfig record) and `prod` (a discovery cache)."""
    from kubectl_scipian.access.cache import backend_dir

    backend = "http://127.0.0.1:9"
    root = backend_dir(tmp_path / "cache", backend)
    (root / "kubeconfigs").mkdir(parents=True)
    (root / "kubeconfigs" / "k.json").write_text(json.dumps({"environment": "dev"}))
    discovery = root / "read" / "prod" / "discovery" / "h_443"
    discovery.mkdir(parents=True)
    resources = [{"name": n, "preferred": True, "verbs": ["get"]} for n in ("pods", "services")]
    (discovery / "resources.json").write_text(json.dumps({"format": 1, "resources": resources}))
    return {
        "PATH": f"{venv_bin()}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path),
        "SCIPIAN_BACKEND_URL": backend,
    }


def test_bash_completes_the_plugin(cached: dict[str, str]) -> None:
    assert bash_complete(cached, ["kubectl-scipian", "d"]) == ["deny-request", "dev"]
    assert bash_complete(cached, ["kubectl-scipian", "dev"]) == ["dev"]
    assert bash_complete(cached, ["kubectl-scipian", "prod", "g"]) == ["get"]
    assert bash_complete(cached, ["kubectl-scipian", "prod", "get", "s"]) == ["services"]
    assert bash_complete(cached, ["kubectl-scipian", "completion", "z"]) == ["zsh"]


def test_bash_completes_an_alias(cached: dict[str, str]) -> None:
    aliases = "alias kprod='kubectl scipian prod'; alias other='ls -l'"
    assert bash_complete(cached, ["kprod", "get", "p"], aliases) == ["pods"]
    assert bash_complete(cached, ["kprod", "d"], aliases) == ["describe"]
    # the form `kubectl scipian alias` prints (the executable itself)
    aliases = "alias kp='kubectl-scipian prod'"
    assert bash_complete(cached, ["kp", "get", "p"], aliases) == ["pods"]
    assert bash_complete(cached, ["kp", "d"], aliases) == ["describe"]


def test_kubectl_plugin_completion(cached: dict[str, str]) -> None:
    """kubectl (1.36) runs kubectl_complete-scipian from PATH for `kubectl scipian ...`."""
    done = run(["kubectl", "__complete", "scipian", "prod", "get", "p"], cached)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["pods", ":4"]
    assert "kubectl_complete-scipian" in done.stderr  # kubectl's own debug line


def test_zsh_and_fish_scripts(cached: dict[str, str]) -> None:
    for shell, marker in (("zsh", "compdef _kubectl_scipian"), ("fish", "complete -c")):
        done = run(["kubectl-scipian", "completion", shell], cached)
        assert done.returncode == 0 and marker in done.stdout
    bad = run(["kubectl-scipian", "completion", "tcsh"], cached)
    assert bad.returncode == 2 and "invalid choice: 'tcsh'" in bad.stderr


@pytest.mark.stack
def test_alias_lists_the_backends_environments(stack: Stack, tmp_path: Path) -> None:
    env = plugin_env(stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(tmp_path / "carol"))
    not_yet = run([str(venv_bin() / "kubectl-scipian"), "alias"], env)
    assert not_yet.returncode == 1 and not_yet.stdout == ""
    done = plugin_login("carol", stack.env["STACK_PASSWORD"], env)
    assert done.returncode == 0, done.stderr
    got = run([str(venv_bin() / "kubectl-scipian"), "alias"], env)
    assert got.returncode == 0, got.stderr
    # carol may use every environment: one alias each, whichever the stack registered
    for env_id in registered_environments(stack):
        assert f"alias k{env_id}='kubectl-scipian {env_id}'" in got.stdout.splitlines()
    # the alias runs the plugin, and completes through the same script
    shell = f"""shopt -s expand_aliases; PATH={venv_bin()}:$PATH
eval "$(kubectl-scipian alias --prefix s)"
alias sdev
sdev get namespaces default -o name"""
    ran = run(["bash", "-c", shell], env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["alias sdev='kubectl-scipian dev'", "namespace/default"]
    bad = run([str(venv_bin() / "kubectl-scipian"), "alias", "--prefix", "a;b"], env)
    assert bad.returncode != 0 and len(bad.stderr.splitlines()) == 1


@pytest.mark.stack
def test_object_names_and_namespaces_with_the_cached_credential_only(
    stack: Stack, tmp_path: Path
) -> None:
    """`kdev get pods <TAB>`, `kdev logs <TAB>` and `-n <TAB>` list what the cluster has,
    with the kubeconfig a read cached; without one, nothing, and no login is started."""
    ns = f"t-complete-{tmp_path.name[-6:].lower().replace('_', '-').strip('-')}"
    stack.kubectl("dev", "create", "namespace", ns)
    try:
        for name in ("web-one", "web-two"):
            stack.kubectl("dev", "run", name, "-n", ns, "--image=busybox", "--restart=Never")
        env = plugin_env(stack.env, KUBECTL_SCIPIAN_CONFIG_DIR=str(tmp_path / "alice"))
        env["PATH"] = f"{venv_bin()}:/usr/bin:/bin"
        done = plugin_login("alice", stack.env["STACK_PASSWORD"], env)
        assert done.returncode == 0, done.stderr
        aliases = "alias kdev='kubectl-scipian dev'"
        # no cached kubeconfig yet: no names, and no credential is fetched for completion
        assert bash_complete(env, ["kdev", "get", "pods", "-n", ns, "w"], aliases) == []
        assert not list((tmp_path / "alice").rglob("kubeconfigs/*.json"))
        read = run([str(venv_bin() / "kubectl-scipian"), "dev", "get", "pods", "-n", ns], env)
        assert read.returncode == 0, read.stderr
        assert bash_complete(env, ["kdev", "get", "pods", "-n", ns, "w"], aliases) == [
            "web-one",
            "web-two",
        ]
        assert bash_complete(env, ["kdev", "describe", "pod", "-n", ns, "web-t"], aliases) == [
            "web-two"
        ]
        assert bash_complete(env, ["kdev", "-n", ns, "logs", "web-o"], aliases) == ["web-one"]
        assert ns in bash_complete(env, ["kdev", "get", "pods", "-n", "t-complete-"], aliases)
        # through kubectl's own plugin completion too
        via = run(["kubectl", "__complete", "scipian", "dev", "get", "pods", "-n", ns, ""], env)
        assert via.stdout.splitlines()[:3] == ["web-one", "web-two", ":4"], via.stderr
        # the credential gone (logout): nothing again, nothing on stderr, no prompt
        out = run([str(venv_bin() / "kubectl-scipian"), "logout", "dev"], env)
        assert out.returncode == 0, out.stderr
        gone = run(
            ["kubectl-scipian", "completion", "__complete", "dev", "get", "pods", "-n", ns, ""],
            env,
        )
        assert (gone.returncode, gone.stdout, gone.stderr) == (0, ":4\n", "")
    finally:
        stack.kubectl("dev", "delete", "namespace", ns, "--wait=false", check=False)
