"""Several environments in one read command against the real stack: one table with an ENV
column, a List with annotated items, sections for describe, and per-environment errors.

Pods of this module's own (a unique namespace and label in dev and prod) keep the compared
rows independent of whatever else runs on the stack's clusters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Stack
from tests.e2e.test_plugin_access import login, make_env
from tests.helpers import wait_for
from tests.stack.login import run_plugin

pytestmark = pytest.mark.stack
AUTH = "Invalid authentication for provided environment."


@pytest.fixture(scope="module")
def users(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return {
        user: login(stack, user, make_env(stack, tmp_path_factory.mktemp(user) / "config"))
        for user in ("alice", "carol")
    }


@pytest.fixture(scope="module")
def pods(stack: Stack) -> Iterator[tuple[str, str]]:
    """(namespace, label selector): two pods in dev and one in prod, all ours."""
    ns, label = f"t-multi-{uuid.uuid4().hex[:6]}", f"scipian-test={uuid.uuid4().hex[:8]}"
    key, value = label.split("=")
    for cluster, names in (("dev", ["a-0", "b-0"]), ("prod", ["c-0"])):
        stack.kubectl(cluster, "create", "namespace", ns)
        for name in names:
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": {key: value}},
                "spec": {
                    "containers": [{"name": "web", "image": "nginx"}],
                    "nodeSelector": {"type": "kwok"},
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
                },
            }
            stack.kubectl(cluster, "apply", "-f", "-", input=json.dumps(pod))
    yield ns, label
    for cluster in ("dev", "prod"):
        stack.kubectl(cluster, "delete", "namespace", ns, "--wait=false", check=False)


def rows(table: str, columns: int) -> list[list[str]]:
    return [line.split()[:columns] for line in table.splitlines()[1:]]


def test_one_table_with_env_column_is_the_union(
    users: dict[str, dict[str, str]], pods: tuple[str, str]
) -> None:
    _, label = pods
    env = users["carol"]
    both = run_plugin(["dev,prod", "get", "pods", "-A", "-l", label], env)
    assert (both.returncode, both.stderr) == (0, ""), both.stderr
    singles = {e: run_plugin([e, "get", "pods", "-A", "-l", label], env) for e in ("dev", "prod")}
    header = both.stdout.splitlines()[0].split()
    assert header == ["ENV", *singles["dev"].stdout.splitlines()[0].split()]
    assert header[:3] == ["ENV", "NAMESPACE", "NAME"]
    expected = [[e, *row] for e, got in singles.items() for row in rows(got.stdout, 2)]
    assert rows(both.stdout, 3) == expected
    assert [r[0] for r in rows(both.stdout, 1)] == ["dev", "dev", "prod"]
    # kubectl's alignment: every column starts where its header does.
    lines = both.stdout.splitlines()
    starts = [lines[0].index(h) for h in ("NAMESPACE", "NAME ", "READY")]
    assert all(line[s - 1] == " " and line[s] != " " for line in lines[1:] for s in starts)


def test_a_namespace_everywhere_matches_the_single_runs(
    users: dict[str, dict[str, str]], pods: tuple[str, str]
) -> None:
    ns, _ = pods
    env = users["carol"]
    both = run_plugin(["dev,prod", "get", "pods", "-n", ns], env)
    single = [run_plugin([e, "get", "pods", "-n", ns], env) for e in ("dev", "prod")]
    assert both.returncode == 0, both.stderr
    union = [
        [e, *row]
        for e, got in zip(("dev", "prod"), single, strict=True)
        for row in rows(got.stdout, 1)
    ]
    assert rows(both.stdout, 2) == union == [["dev", "a-0"], ["dev", "b-0"], ["prod", "c-0"]]


def gizmo_crd(group: str, short: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gizmos.{group}"},
        "spec": {
            "group": group,
            "names": {
                "plural": "gizmos",
                "singular": "gizmo",
                "kind": "Gizmo",
                "shortNames": [short],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def gizmos(stack: Stack, pods: tuple[str, str]) -> Iterator[tuple[str, tuple[str, str]]]:
    """(short name, (group, group)): two CRDs of this test's own on dev and prod, both
    claiming a short name no one else has (whatever other CRDs claim, say `wdg`, cannot
    change what it means), readable by the environments' role (aggregated to `view`), and
    in dev one Gizmo of each group, named after its group."""
    ns, _ = pods
    tag = uuid.uuid4().hex[:6]
    short, groups = f"gz{tag}", (f"a{tag}.multienv.scipian.test", f"b{tag}.multienv.scipian.test")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": f"t-gizmos-{tag}",
            "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        },
        "rules": [
            {"apiGroups": list(groups), "resources": ["gizmos"], "verbs": ["get", "list", "watch"]}
        ],
    }
    docs = [gizmo_crd(g, short) for g in groups] + [role]
    try:
        for cluster in ("dev", "prod"):
            stack.kubectl(cluster, "apply", "-f", "-", input=json.dumps(list_of(docs)))
            for group in groups:
                stack.kubectl(cluster, "wait", "--for=condition=Established", f"crd/gizmos.{group}")

            def aggregated(cluster: str = cluster) -> bool:
                out = stack.kubectl(cluster, "get", "clusterrole", "scipian-observer", "-o", "json")
                rules = json.loads(out.stdout).get("rules") or []
                return all(any(g in r.get("apiGroups", []) for r in rules) for g in groups)

            wait_for(f"{cluster}: the gizmos in the environments' role", aggregated)
        gizmos = [
            {
                "apiVersion": f"{g}/v1",
                "kind": "Gizmo",
                "metadata": {"name": f"only-in-dev-{g.split('.')[0]}", "namespace": ns},
            }
            for g in groups
        ]
        stack.kubectl("dev", "apply", "-f", "-", input=json.dumps(list_of(gizmos)))
        yield short, groups
    finally:
        for cluster in ("dev", "prod"):
            stack.kubectl(
                cluster, "delete", "--ignore-not-found", "--wait=false", "-f", "-",
                input=json.dumps(list_of(docs)), check=False,
            )  # fmt: skip


def list_of(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": items}


def test_short_name_warning_per_environment(
    stack: Stack,
    pods: tuple[str, str],
    gizmos: tuple[str, tuple[str, str]],
    tmp_path: Path,
) -> None:
    """A short name two groups claim: each environment warns as kubectl warns, and means
    what kubectl means, asked at the same moment (a discovery cache of its own)."""
    ns, _ = pods
    short, groups = gizmos
    own_cache = f"--cache-dir={tmp_path / 'kubectl-cache'}"
    kubectl = {
        c: stack.kubectl(c, own_cache, "get", short, "-n", ns, "-o", "name")
        for c in ("dev", "prod")
    }
    [warning] = kubectl["dev"].stderr.splitlines()
    assert warning.startswith(f'Warning: short name "{short}" could also match lower priority')
    assert (kubectl["prod"].stdout, kubectl["prod"].stderr) == ("", f"{warning}\n")
    # What kubectl lists in dev is the Gizmo of the group `short` means.
    [listed] = kubectl["dev"].stdout.splitlines()
    names = {f"only-in-dev-{g.split('.')[0]}" for g in groups}
    chosen = listed.rsplit("/", 1)[1]
    [other] = names - {chosen}
    # a login of its own: the module's users cached discovery before the gizmos were served
    env = login(stack, "carol", make_env(stack, tmp_path / "config"))
    for verb in ("get", "describe"):
        single = {e: run_plugin([e, verb, short, "-n", ns], env) for e in ("dev", "prod")}
        assert single["dev"].stderr == f"{warning}\n", single["dev"].stderr
        assert chosen in single["dev"].stdout and other not in single["dev"].stdout
        assert single["prod"].stderr == f"{warning}\nNo resources found in {ns} namespace.\n"
        both = run_plugin(["dev,prod", verb, short, "-n", ns], env)
        assert both.returncode == 0, both.stderr
        assert both.stderr.splitlines()[:2] == [f"dev: {warning}", f"prod: {warning}"]
        assert chosen in both.stdout and other not in both.stdout


def test_denied_environment_is_reported_after_the_output(
    users: dict[str, dict[str, str]], pods: tuple[str, str]
) -> None:
    ns, label = pods
    got = run_plugin(["dev,prod", "get", "pods", "-n", ns, "-l", label], users["alice"])
    assert got.returncode == 1
    assert got.stderr == f"prod: {AUTH}\n"
    assert rows(got.stdout, 2) == [["dev", "a-0"], ["dev", "b-0"]]
    # @all is what alice may use: dev only, so nothing fails.
    everything = run_plugin(["@all", "get", "pods", "-n", ns], users["alice"])
    assert everything.returncode == 0, everything.stderr
    assert {r[0] for r in rows(everything.stdout, 1)} == {"dev"}


def test_json_list_with_annotated_items(
    users: dict[str, dict[str, str]], pods: tuple[str, str]
) -> None:
    _, label = pods
    for fmt in ("json", "yaml"):
        got = run_plugin(["dev,prod", "get", "pods", "-A", "-l", label, "-o", fmt], users["carol"])
        assert got.returncode == 0, got.stderr

        doc = yaml.safe_load(got.stdout)
        assert doc["kind"] == "List" and doc["apiVersion"] == "v1"
        found = [
            (i["metadata"]["annotations"]["scipian.io/environment"], i["metadata"]["name"])
            for i in doc["items"]
        ]
        assert found == [("dev", "a-0"), ("dev", "b-0"), ("prod", "c-0")]
        assert all(i["kind"] == "Pod" for i in doc["items"])
    assert got.stdout.startswith("apiVersion: v1\nitems:\n")


def test_group_from_config_and_describe_sections(
    users: dict[str, dict[str, str]], pods: tuple[str, str]
) -> None:
    ns, _ = pods
    env = users["carol"]
    config = Path(env["KUBECTL_SCIPIAN_CONFIG_DIR"]) / "config.json"
    config.write_text(json.dumps({"groups": {"both": ["prod", "dev"]}}))
    try:
        got = run_plugin(["@both", "describe", "namespace", ns], env)
        assert got.returncode == 0, got.stderr
        assert got.stdout.startswith(f"==> prod <==\nName:         {ns}\n")
        assert f"\n\n==> dev <==\nName:         {ns}\n" in got.stdout
        unknown = run_plugin(["@nope", "get", "pods"], env)
        assert unknown.returncode == 2 and unknown.stderr.startswith("error: unknown group '@nope'")
    finally:
        config.unlink()


def test_not_logged_in_fails_once(stack: Stack, tmp_path: Path) -> None:
    got = run_plugin(["dev,prod", "get", "pods"], make_env(stack, tmp_path / "config"))
    assert (got.returncode, got.stdout) == (1, "")
    assert got.stderr == f"{AUTH}\nhint: run 'kubectl scipian login'\n"
