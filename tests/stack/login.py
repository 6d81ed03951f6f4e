"""`scripts/stack login USER`: logs USER into the plugin's cache through the real device flow.

Runs `kubectl-scipian login --device-code` as a subprocess (config dir and backend from
.stack/env), reads the verification URL and user code from its stderr, and acts as USER at
the provider's pages (`idp_login.device_login_approve`) while the plugin polls on its own.
Nothing is written to the cache except by the plugin itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.stack import envfile, idp_login
from tests.stack.paths import venv_bin

URL = re.compile(r"^\s+(https?://\S+)\s*$")
CODE = re.compile(r"confirm the code (\S+)")


@dataclass
class DevicePrompt:
    """What the plugin asked the person to do, parsed from its stderr."""

    url: str | None = None
    user_code: str | None = None
    lines: list[str] = field(default_factory=list)

    def feed(self, line: str) -> bool:
        """True once both the URL and the code have been seen."""
        self.lines.append(line)
        url, code = URL.match(line), CODE.search(line)
        if url and self.url is None:
            self.url = url.group(1)
        if code:
            self.user_code = code.group(1)
        return self.url is not None and self.user_code is not None


def plugin_env(stack_env: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The plugin's environment: this process's, pointed at the stack's backend and cache."""
    env = dict(os.environ)
    for name in ("KUBECTL_SCIPIAN_CONFIG_DIR", "SCIPIAN_BACKEND_URL"):
        if stack_env.get(name):
            env[name] = stack_env[name]
    env.update(extra)
    return env


def plugin_login(
    user: str,
    password: str,
    env: Mapping[str, str],
    *,
    plugin: str | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 120.0,
    session: requests.Session | None = None,
    seen: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs the plugin's device login and approves it as ``user``; returns the finished run."""
    return run_approving(
        [*extra_args, "login", "--device-code"],
        user,
        password,
        env,
        plugin=plugin,
        timeout=timeout,
        session=session,
        seen=seen,
    )


def run_approving(
    args: list[str],
    user: str,
    password: str,
    env: Mapping[str, str],
    *,
    plugin: str | None = None,
    timeout: float = 120.0,
    session: requests.Session | None = None,
    seen: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs the plugin with ``args``; if it asks for a device login on stderr, approves it as
    ``user`` at the provider's pages. ``session`` (a browser keeping the provider's session)
    and ``seen`` (the pages answered) as in ``idp_login.device_login_approve``: a test sees
    whether the login it approved asked for the password (e.g. a step-up's ``max_age``).
    stderr is read until the prompt (or the end), so keep stdout small (a kubeconfig is)."""
    argv = [plugin or str(venv_bin() / "kubectl-scipian"), *args]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
    )
    assert proc.stderr is not None and proc.stdout is not None
    prompt = DevicePrompt()
    try:
        for line in proc.stderr:
            if prompt.feed(line):
                break
        if prompt.url is None or prompt.user_code is None:
            proc.wait(timeout)
            stderr = "".join(prompt.lines)
            return subprocess.CompletedProcess(argv, proc.returncode, proc.stdout.read(), stderr)
        # Keep draining stderr so the plugin never blocks on a full pipe.
        rest: list[str] = []
        drain = threading.Thread(target=lambda: rest.extend(proc.stderr or []), daemon=True)
        drain.start()
        idp_login.device_login_approve(
            prompt.url, prompt.user_code, user, password, session=session, seen=seen
        )
        stdout = proc.stdout.read()
        proc.wait(timeout)
        drain.join(timeout)
        return subprocess.CompletedProcess(
            argv, proc.returncode, stdout, "".join(prompt.lines + rest)
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def login_cli(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: scripts/stack login USER", file=sys.stderr)
        return 2
    stack_env = envfile.read()
    if not stack_env:
        print("stack: not running (run scripts/stack up)", file=sys.stderr)
        return 1
    if not stack_env.get("SCIPIAN_BACKEND_URL"):
        print("stack: .stack/env has no SCIPIAN_BACKEND_URL (backend not up)", file=sys.stderr)
        return 1
    user = argv[0]
    # A caller may point the login at another cache (e.g. a second user beside the first).
    config_dir = Path(
        os.environ.get("KUBECTL_SCIPIAN_CONFIG_DIR") or stack_env["KUBECTL_SCIPIAN_CONFIG_DIR"]
    )
    env = plugin_env(stack_env, KUBECTL_SCIPIAN_CONFIG_DIR=str(config_dir))
    try:
        done = plugin_login(user, stack_env["STACK_PASSWORD"], env)
    except idp_login.IdpLoginError as err:
        print(f"stack: login of {user} failed: {err}", file=sys.stderr)
        return 1
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        print(f"stack: login of {user} failed", file=sys.stderr)
        return done.returncode or 1
    print(f"stack: {user} logged in (plugin cache in {config_dir})", file=sys.stderr)
    return 0


def run_plugin(
    args: list[str],
    env: Mapping[str, str],
    *,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """One plugin invocation without a terminal (stdin from /dev/null), as scripts run it."""
    return subprocess.run(
        [str(venv_bin() / "kubectl-scipian"), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
