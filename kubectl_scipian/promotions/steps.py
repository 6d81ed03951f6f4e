"""The step loop of a promotion, from its first step not Succeeded:

  Pending/Deploying ── chart identity checked again → step credential (the backend's gates)
      │                   → `helm upgrade --install --atomic --wait` with it (private
      │                   kubeconfig) → report helm's exit code → Verifying
  AwaitingApproval ─── poll the promotion (~2 s) until approved; --no-wait: stop with the
      │                   resume line (exit EXIT_AWAITING_APPROVAL)
  Verifying ────────── poll verify (~1 s) until Succeeded or Failed
  Failed ───────────── stop: exit 1

Ctrl-C stops helm (forwarded), reports nothing (the step stays Deploying, which a resume
re-runs) and prints the resume line. A backend that stops answering mid-chain is one line
naming it, plus the resume line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple, TextIO

from kubectl_scipian.errors import BackendUnreachable, Refused, UsageError
from kubectl_scipian.promotions import printers
from kubectl_scipian.promotions.api import Api
from kubectl_scipian.promotions.flags import EXIT_AWAITING_APPROVAL
from kubectl_scipian.promotions.progress import Progress

APPROVAL_POLL = 2.0
VERIFY_POLL = 1.0
FINISHED = ("Succeeded", "Failed")
HELM_WAIT_SLACK = 30  # the verification deadline is the backend's; helm's own is --timeout


class Chain(NamedTuple):
    """What the loop needs besides the promotion."""

    chart: str  # the path as given
    helm: str
    values: Callable[[str], list[str]]  # env → its values files
    sets: list[str]
    no_wait: bool
    check_identity: Callable[[str], None]  # env → raises if the chart's identity changed
    run_helm: Callable[[list[str], str], tuple[int, str, bool]]  # (argv, kubeconfig) →
    # (exit code, helm's last stderr line, interrupted)


def resume_line(name: str, chart: str) -> str:
    return f"resume with: kubectl scipian promote --resume {name} --chart {chart}"


def helm_argv(promo: dict[str, Any], chain: Chain, env: str) -> list[str]:
    """helm's command line: the backend's release and namespace checked (names.py), the
    positional arguments after `--`, so that none is ever read as a flag."""
    from kubectl_scipian.support import names

    spec = promo["spec"]
    release = names.check_release(spec.get("release"))
    namespace = names.check_namespace(spec.get("namespace"))
    timeout = spec.get("timeoutSeconds") or 300
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 86400:
        names.check("timeout", timeout, "a number of seconds")
    argv = [chain.helm, "upgrade", "--install", "-n", namespace, "--atomic", "--wait"]
    argv += ["--timeout", f"{timeout}s"]
    for path in chain.values(env):
        argv += ["-f", path]
    for item in chain.sets:
        argv += ["--set", item]
    return [*argv, "--", release, chain.chart]


def step_of(promo: dict[str, Any], env: str) -> dict[str, Any]:
    return next((s for s in printers.steps(promo) if s.get("environment") == env), {})


def next_step(promo: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in printers.steps(promo) if s.get("phase") != "Succeeded"), None)


class Runner:
    def __init__(
        self,
        api: Api,
        chain: Chain,
        progress: Progress,
        err: TextIO,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.chain = chain
        self.progress = progress
        self.err = err
        self.sleep = sleep

    def run(self, promo: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        """(the promotion as it ended, or None when its state is not known, the exit code)."""
        name = str(promo["metadata"]["name"])
        try:
            return self._loop(promo)
        except BackendUnreachable as err:
            self.progress.say(f"error: {err}")
            self.progress.say(resume_line(name, self.chain.chart))
            return None, 1
        except KeyboardInterrupt:
            self.progress.say("interrupted: helm was stopped; nothing was reported for this step")
            self.progress.say(resume_line(name, self.chain.chart))
            return None, 130

    def _loop(self, promo: dict[str, Any]) -> tuple[dict[str, Any], int]:
        name = str(promo["metadata"]["name"])
        self.progress.update(promo)
        hinted: set[str] = set()
        while True:
            phase = (promo.get("status") or {}).get("phase")
            step = next_step(promo)
            if phase in FINISHED or step is None:
                return promo, 0 if phase == "Succeeded" else 1
            env = str(step.get("environment"))
            if step.get("phase") == "Failed":
                return promo, 1
            if step.get("phase") == "AwaitingApproval":
                if env not in hinted:
                    hinted.add(env)
                    self.progress.say(
                        f"waiting for approval of {env}: kubectl scipian approve {name} "
                        f"--step {env} --reason TEXT"
                    )
                if self.chain.no_wait:
                    self.progress.say(resume_line(name, self.chain.chart))
                    return promo, EXIT_AWAITING_APPROVAL
                self.sleep(APPROVAL_POLL)
                promo = self.api.get(name)
                self.progress.update(promo)
                continue
            if step.get("phase") == "Verifying":
                self.sleep(VERIFY_POLL)
                promo = self.api.verify(name, env)
                self.progress.update(promo)
                continue
            promo = self._deploy(promo, name, env)
            self.progress.update(promo)

    def _deploy(self, promo: dict[str, Any], name: str, env: str) -> dict[str, Any]:
        """Pending or Deploying (a resumed run): credential, helm, report."""
        from kubectl_scipian.helm.runner import private_kubeconfig

        self.chain.check_identity(env)
        try:
            issued = self.api.step_kubeconfig(name, env)
        except Refused as refused:
            # A gate: approvals not met turns the step AwaitingApproval; anything else
            # (stale verification, ...) is in the promotion now, or is the answer itself.
            promo = self.api.get(name)
            if step_of(promo, env).get("phase") in ("AwaitingApproval", "Failed"):
                return promo
            if (promo.get("status") or {}).get("phase") in FINISHED:
                return promo
            raise refused
        kubeconfig = issued.get("kubeconfig")
        if not isinstance(kubeconfig, str) or not kubeconfig.strip():
            raise UsageError("the Scipian backend sent no kubeconfig for the step")
        from kubectl_scipian.backend import issued as issued_policy

        why = issued_policy.problem(env, str(issued.get("environment", env)), kubeconfig)
        if why:
            raise UsageError(f"the Scipian backend sent a kubeconfig the plugin refuses: {why}")
        self.progress.update(_with_phase(promo, env, "Deploying"))
        with private_kubeconfig(issued_policy.as_json(kubeconfig)) as path:
            code, line, interrupted = self.chain.run_helm(
                helm_argv(promo, self.chain, env), str(path)
            )
        if interrupted:
            raise KeyboardInterrupt
        return self.api.report(name, env, code, line if code else "")


def _with_phase(promo: dict[str, Any], env: str, phase: str) -> dict[str, Any]:
    """The promotion as the backend now has it after issuing a step's credential (the
    credential's answer is not the promotion; no extra round trip for the progress line)."""
    status = dict(promo.get("status") or {})
    status["steps"] = [
        {**s, "phase": phase} if s.get("environment") == env else s for s in printers.steps(promo)
    ]
    return {**promo, "status": status}
