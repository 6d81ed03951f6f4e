"""helmrun's pure parts: render digests, config digests, template arguments, -o json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scipian_backend.helmrun import render
from scipian_backend.helmrun.output import OutputError, release_json
from scipian_backend.helmrun.sandbox import HelmSandbox, ScratchFull

CM = """---
# Source: c/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
data:
  when: 2024-01-01
"""
SVC = """---
# Source: c/templates/svc.yaml
apiVersion: v1
kind: Service
metadata:
  name: a
spec:
  ports:
  - port: 80
"""
HOOK = """apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-upgrade
"""


def test_template_stream_and_release_split_give_one_digest() -> None:
    # helm template prints hooks among the manifests; a release keeps them apart.
    stream = SVC + CM + "---\n# Source: c/templates/job.yaml\n" + HOOK
    assert render.render_digest(stream) == render.render_digest(CM + SVC, [HOOK])


def test_digest_ignores_order_comments_and_key_order() -> None:
    reordered = "kind: ConfigMap\napiVersion: v1\ndata: {when: 2024-01-01}\nmetadata: {name: a}\n"
    assert render.render_digest(CM) == render.render_digest("# only a comment\n---\n" + reordered)


def test_digest_changes_with_any_value() -> None:
    assert render.render_digest(CM) != render.render_digest(CM.replace("2024-01-01", "2024-01-02"))
    assert render.render_digest(CM) != render.render_digest(CM, [HOOK])


def test_timestamps_stay_strings() -> None:
    (obj,) = render.objects(CM)
    assert obj["data"]["when"] == "2024-01-01"


def test_aliases_are_refused() -> None:
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  a: &x [1, 2]\n  b: *x\n"
    with pytest.raises(render.RenderError):
        render.objects(bomb)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "a: [\n"])
def test_non_objects_are_refused(text: str) -> None:
    with pytest.raises(render.RenderError):
        render.objects(text)


def test_config_digest_is_sorted_key_json() -> None:
    assert render.config_digest({"b": 1, "a": {"y": 2, "x": 1}}) == render.config_digest(
        {"a": {"x": 1, "y": 2}, "b": 1}
    )
    assert render.config_digest(None) == render.config_digest({})
    assert render.config_digest({"a": 1}) != render.config_digest({"a": "1"})


def test_manifest_digest_is_of_the_text() -> None:
    assert render.manifest_digest(CM) != render.manifest_digest(CM + "\n")
    assert render.manifest_digest(CM).startswith("sha256:")


def test_template_args() -> None:
    args = render.template_args(
        "web",
        "shop",
        "/ws/chart.tgz",
        kube_version="v1.31.0",
        api_versions=["apps/v1", "apps/v1/Deployment"],
        is_upgrade=True,
        values_files=["/ws/v0.yaml"],
        sets=["a=b"],
    )
    assert args == [
        "template",
        "web",
        "/ws/chart.tgz",
        "--namespace",
        "shop",
        "--kube-version",
        "v1.31.0",
        "--api-versions",
        "apps/v1,apps/v1/Deployment",
        "--is-upgrade",
        "--values",
        "/ws/v0.yaml",
        "--set",
        "a=b",
    ]
    assert "--is-upgrade" not in render.template_args(
        "web", "shop", "c", kube_version="", api_versions=[], is_upgrade=False
    )


def _release(**over: object) -> bytes:
    doc = {
        "name": "web",
        "namespace": "shop",
        "version": 3,
        "info": {"status": "deployed"},
        "manifest": CM,
        "hooks": [{"name": "migrate", "manifest": HOOK}],
        "config": {"a": 1},
        "chart": {"metadata": {"name": "c", "version": "1.2.3"}},
    }
    doc.update(over)
    return json.dumps(doc).encode()


def test_release_json() -> None:
    out = release_json(_release())
    assert (out.name, out.namespace, out.revision, out.status) == ("web", "shop", 3, "deployed")
    assert out.hooks == [HOOK] and out.config == {"a": 1}
    assert (out.chart_name, out.chart_version) == ("c", "1.2.3")


@pytest.mark.parametrize(
    "stdout",
    [b"Error: nope", b"[1]", _release(version=0), _release(version="3"), _release(version=True)],
)
def test_release_json_refuses(stdout: bytes) -> None:
    with pytest.raises(OutputError):
        release_json(stdout)


def test_release_json_depth_bound() -> None:
    nested: object = {}
    for _ in range(20):
        nested = {"a": nested}
    assert release_json(_release(config=nested)).config
    with pytest.raises(OutputError):
        release_json(_release(config=nested), max_depth=10)


def test_release_json_size_bound() -> None:
    with pytest.raises(OutputError):
        release_json(_release(), max_bytes=100)


def test_workspace_budget_and_cleanup(tmp_path: Path) -> None:
    sandbox = HelmSandbox("/bin/false", str(tmp_path), scratch_bytes=100)
    with sandbox.workspace() as ws:
        path = ws.write("a", b"x" * 60)
        assert (tmp_path / ws.path.name / "a").read_bytes() == b"x" * 60
        assert oct(ws.path.stat().st_mode & 0o777) == "0o700"
        with pytest.raises(ScratchFull):
            ws.write("b", b"x" * 41)
        with pytest.raises(ValueError):
            ws.write("../c", b"")
    assert not ws.path.exists() and path
    with sandbox.workspace() as ws:  # the budget came back with the workspace
        ws.write("a", b"x" * 100)


def test_environment_is_private(tmp_path: Path) -> None:
    sandbox = HelmSandbox("/bin/false", str(tmp_path))
    with sandbox.workspace() as ws:
        env = sandbox.environment(ws, None)
    assert env["HELM_DRIVER"] == "secret"
    assert not any(k.startswith("KUBERNETES_") or "PROXY" in k.upper() for k in env)
    for key, value in env.items():
        if (key.startswith(("HELM_", "XDG_")) and key != "HELM_DRIVER") or key in (
            "HOME",
            "KUBECONFIG",
        ):
            assert value.startswith(str(ws.path)), key
