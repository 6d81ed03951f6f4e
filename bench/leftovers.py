"""What `make bench` makes on the stack, removed when it ends: also when an entry fails or
the run is interrupted (Ctrl-C, SIGTERM).

The stack is shared with the test suite, which asserts exact lists (alice's environments,
the dashboard's pages, `@all`): a bench that left its 22 Environments registered and
granted to team-a failed those tests on the next run. So everything here is removed:

- mgmt: the Environments (fan-out aliases `bench-fNN`, promotion chain `bench-pN`), their
  broker Secrets, the fan-out grant, the Promotions of the bench's releases and their locks;
- the targets: the namespaces the bench seeded or deployed into (pods, logs, releases).

`remove()` is idempotent and removes what an earlier, killed run left too.
`python -m bench.leftovers` runs it alone.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

from bench import fanout, promotion, ui_pages
from tests.stack import clusters, grants
from tests.stack.backend_daemon import BACKEND_NS, admin_cli
from tests.stack.releases import NAMESPACE as SHOP

ENVIRONMENTS = (*fanout.ALIASES, *promotion.ENVS)
NAMESPACES: dict[str, tuple[str, ...]] = {
    "dev": ("bench-50", "bench-5000", "bench-logs", ui_pages.BENCH_NS, promotion.NAMESPACE),
    "staging": (promotion.NAMESPACE,),
    "prod": (promotion.NAMESPACE,),
}
# (namespace, release) of every Promotion the bench creates
PROMOTED = (
    (promotion.NAMESPACE, promotion.RELEASE),
    *((SHOP, ui_pages.promotion_release(i)) for i in range(ui_pages.PROMOTIONS)),
)
NAMESPACE_GONE_S = 600  # 5,000 pods take a while; the next run would find them Terminating


def fanout_grant_manifest() -> str:
    grant = grants.Grant("env", grants.READ, "oidc:team-a", fanout.ALIASES)
    return json.dumps(grants.manifest((grant,)))


def remove() -> list[str]:
    """Removes everything the bench makes; returns what could not be removed (one line
    each), [] when the stack is clean."""
    problems: list[str] = []
    with ThreadPoolExecutor(4) as pool:
        problems += [p for p in pool.map(_unregister, ENVIRONMENTS) if p]
    out = clusters.kubectl_run(
        "mgmt", "delete", "--ignore-not-found", "-f", "-", input=fanout_grant_manifest(),
        check=False,
    )  # fmt: skip
    if out.returncode != 0:
        problems.append(f"the fan-out grant: {out.stderr.strip()}")
    problems += _remove_promotions()
    for cluster, names in NAMESPACES.items():
        out = clusters.kubectl_run(
            cluster, "delete", "namespace", "--ignore-not-found", f"--timeout={NAMESPACE_GONE_S}s",
            *names, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            problems.append(f"{cluster}: namespaces {', '.join(names)}: {out.stderr.strip()}")
    return problems


def _unregister(env_id: str) -> str | None:
    """The Environment with its identities on the target (the admin CLI's `unregister`),
    then, whatever that said, the Environment and its broker Secret themselves."""
    gone = admin_cli("unregister", f"--name={env_id}")
    problem = None
    if gone.returncode != 0 and f"no environment {env_id}" not in gone.stderr:
        problem = f"unregister {env_id}: {gone.stderr.strip()}"
    for kind, extra in (
        ("environments.scipian.io", ()),
        ("secret", ("-n", BACKEND_NS)),
    ):
        name = env_id if kind != "secret" else f"{env_id}-kubeconfig"
        out = clusters.kubectl_run(
            "mgmt", "delete", kind, name, *extra, "--ignore-not-found", check=False
        )
        if out.returncode != 0:
            return f"{kind} {name}: {out.stderr.strip()}"
    return problem


def _remove_promotions() -> list[str]:
    from scipian_backend.promotions.lock import lock_name

    out = clusters.kubectl_run("mgmt", "get", "promotions.scipian.io", "-o", "json", check=False)
    if out.returncode != 0:
        return [f"listing Promotions: {out.stderr.strip()}"]
    ours = set(PROMOTED)
    names = [
        item["metadata"]["name"]
        for item in json.loads(out.stdout).get("items", [])
        if (item["spec"].get("namespace"), item["spec"].get("release")) in ours
    ]
    problems = []
    if names:
        done = clusters.kubectl_run(
            "mgmt", "delete", "promotions.scipian.io", "--ignore-not-found", *names, check=False
        )
        if done.returncode != 0:
            problems.append(f"Promotions: {done.stderr.strip()}")
    leases = [lock_name(ns, release) for ns, release in PROMOTED]
    done = clusters.kubectl_run(
        "mgmt", "delete", "lease", "-n", BACKEND_NS, "--ignore-not-found", *leases, check=False
    )
    if done.returncode != 0:
        problems.append(f"promotion locks: {done.stderr.strip()}")
    return problems


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # into the `finally` below, as Ctrl-C does


@contextlib.contextmanager
def removed_at_exit() -> Iterator[None]:
    """Runs the block; then removes what the bench made, however the block ended."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: let this finish
        try:
            print("bench: removing what the bench made", file=sys.stderr)
            problems = remove()
            for problem in problems:
                print(f"bench: left behind: {problem}", file=sys.stderr)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, previous)


def main() -> int:
    problems = remove()
    for problem in problems:
        print(f"bench: left behind: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
