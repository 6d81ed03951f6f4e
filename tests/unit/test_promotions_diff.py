"""The diff approvers see (promotions/diff.py, change.md §6): shape, never values."""

from __future__ import annotations

import copy
import json
from typing import Any

from scipian_backend.promotions import diff as d

NS = "shop"


def deployment(
    name: str = "web", image: str = "shop/web:1.0", replicas: int = 2, **pod: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "web", "image": image}], **pod}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def service(name: str, port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"ports": [{"port": port}]},
    }


def only(objects: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(objects) == 1, objects
    return objects[0]


def test_equal_sides_list_nothing() -> None:
    objs = [deployment(), config_map("cfg", a="1"), service("web")]
    assert d.diff(objs, copy.deepcopy(objs), NS) == []


def test_an_image_change() -> None:
    entry = only(d.diff([deployment(image="shop/web:1.1")], [deployment()], NS))
    assert entry == {
        "kind": "Deployment",
        "namespace": NS,
        "name": "web",
        "change": "changed",
        "hook": False,
        "images": [{"container": "web", "old": "shop/web:1.0", "new": "shop/web:1.1"}],
        "replicas": None,
        "fields": ["spec.template.spec.containers[web].image"],
        "keys": None,
    }


def test_replicas_only() -> None:
    entry = only(d.diff([deployment(replicas=3)], [deployment()], NS))
    assert entry["replicas"] == {"old": 2, "new": 3}
    assert entry["images"] == [] and entry["fields"] == []


def test_added_and_removed_workloads_show_their_images() -> None:
    out = d.diff([deployment("new", "shop/new:2")], [deployment("old", "shop/old:1")], NS)
    assert [(o["name"], o["change"]) for o in out] == [("new", "added"), ("old", "removed")]
    assert out[0]["images"] == [{"container": "web", "old": None, "new": "shop/new:2"}]
    assert out[0]["replicas"] == {"old": None, "new": 2}
    assert out[1]["images"] == [{"container": "web", "old": "shop/old:1", "new": None}]
    assert out[0]["fields"] == [] and out[1]["fields"] == []


def test_pod_template_paths_name_fields_never_values() -> None:
    old = deployment(volumes=[{"name": "data", "emptyDir": {}}])
    new = deployment(volumes=[{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}])
    new["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "PASSWORD", "value": "hunter2-do-not-show"}
    ]
    new["spec"]["template"]["metadata"]["annotations"] = {"checksum/config": "abc123"}
    entry = only(d.diff([new], [old], NS))
    assert entry["fields"] == [
        "spec.template.metadata.annotations",
        "spec.template.spec.containers[web].env",
        "spec.template.spec.volumes[data].emptyDir.sizeLimit",
    ]
    text = json.dumps(entry)
    assert "hunter2" not in text and "abc123" not in text and "1Gi" not in text


def test_named_lists_are_compared_by_name_not_index() -> None:
    side = {"name": "sidecar", "image": "shop/side:1"}
    old = deployment()
    new = deployment()
    new["spec"]["template"]["spec"]["containers"].insert(0, side)
    entry = only(d.diff([new], [old], NS))
    assert entry["fields"] == ["spec.template.spec.containers[sidecar]"]
    assert entry["images"] == [{"container": "sidecar", "old": None, "new": "shop/side:1"}]


def test_unnamed_lists_by_index() -> None:
    old = deployment()
    new = deployment()
    old["spec"]["template"]["spec"]["containers"][0]["args"] = ["--a", "--b"]
    new["spec"]["template"]["spec"]["containers"][0]["args"] = ["--a", "--c", "--d"]
    entry = only(d.diff([new], [old], NS))
    assert entry["fields"] == [
        "spec.template.spec.containers[web].args[1]",
        "spec.template.spec.containers[web].args[2]",
    ]


def test_init_containers_and_cronjobs() -> None:
    def cron(image: str) -> dict[str, Any]:
        pod = {"initContainers": [{"name": "init", "image": image}], "containers": []}
        return {
            "kind": "CronJob",
            "metadata": {"name": "nightly"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}},
        }

    entry = only(d.diff([cron("busybox:2")], [cron("busybox:1")], NS))
    assert entry["images"] == [{"container": "init", "old": "busybox:1", "new": "busybox:2"}]
    assert entry["fields"] == ["spec.jobTemplate.spec.template.spec.initContainers[init].image"]
    assert entry["replicas"] is None


def test_a_pod_is_its_own_template() -> None:
    def pod(image: str) -> dict[str, Any]:
        return {
            "kind": "Pod",
            "metadata": {"name": "test", "annotations": {"helm.sh/hook": "test"}},
            "spec": {"containers": [{"name": "t", "image": image}]},
        }

    entry = only(d.diff([pod("b")], [pod("a")], NS))
    assert entry["hook"] is True
    assert entry["fields"] == ["spec.containers[t].image"]


def test_outside_the_pod_template_only_the_change() -> None:
    old = deployment()
    new = deployment()
    new["metadata"]["labels"] = {"tier": "front"}
    entry = only(d.diff([new], [old], NS))
    assert entry["change"] == "changed" and entry["fields"] == [] and entry["images"] == []
    svc = only(d.diff([service("web", 8080)], [service("web")], NS))
    assert svc["change"] == "changed" and svc["fields"] == [] and svc["keys"] is None


def test_a_new_secret_is_present_added_and_shows_no_data() -> None:
    entry = only(d.diff([secret("db", password="c2VjcmV0LXZhbHVl")], [], NS))
    assert entry == {
        "kind": "Secret",
        "namespace": NS,
        "name": "db",
        "change": "added",
        "hook": False,
        "images": [],
        "replicas": None,
        "fields": [],
        "keys": None,
        "present": "added",
    }
    assert "password" not in json.dumps(entry)


def test_a_kept_secret_is_listed_whether_or_not_its_data_changed() -> None:
    same = only(d.diff([secret("db", a="MQ==")], [secret("db", a="MQ==")], NS))
    other = only(d.diff([secret("db", a="Mg==", b="Mw==")], [secret("db", a="MQ==")], NS))
    assert same == other  # nothing in the answer tells the two apart
    assert same["present"] == "kept" and same["keys"] is None


def test_a_removed_secret() -> None:
    entry = only(d.diff([], [secret("old", x="eA==")], NS))
    assert (entry["change"], entry["present"]) == ("removed", "removed")


def test_config_map_key_names_never_values() -> None:
    old = config_map("cfg", keep="same", edit="before-value", gone="x")
    new = config_map("cfg", keep="same", edit="after-value", fresh="y")
    new["binaryData"] = {"blob": "AAEC"}
    entry = only(d.diff([new], [old], NS))
    assert entry["keys"] == {"added": ["blob", "fresh"], "removed": ["gone"], "changed": ["edit"]}
    text = json.dumps(entry)
    assert "before-value" not in text and "after-value" not in text and "AAEC" not in text


def test_config_map_added_lists_its_keys_as_added() -> None:
    entry = only(d.diff([config_map("cfg", a="1", b="2")], [], NS))
    assert entry["keys"] == {"added": ["a", "b"], "removed": [], "changed": []}


def test_sorted_by_kind_namespace_name_and_namespaces_defaulted() -> None:
    other_ns = service("b")
    other_ns["metadata"]["namespace"] = "aaa"
    role = {"kind": "ClusterRole", "metadata": {"name": "reader"}, "rules": []}
    desired = [service("z"), config_map("c"), other_ns, service("a"), role]
    out = d.diff(desired, [], NS)
    assert [(o["kind"], o["namespace"], o["name"]) for o in out] == [
        ("ClusterRole", "", "reader"),
        ("ConfigMap", NS, "c"),
        ("Service", "aaa", "b"),
        ("Service", NS, "a"),
        ("Service", NS, "z"),
    ]


def test_an_explicit_release_namespace_equals_a_defaulted_one() -> None:
    explicit = service("web")
    explicit["metadata"]["namespace"] = NS
    assert d.diff([explicit], [service("web")], NS) == []


def test_hooks_flagged_from_either_side() -> None:
    job = {
        "kind": "Job",
        "metadata": {"name": "migrate", "annotations": {"helm.sh/hook": "pre-upgrade"}},
        "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "mig:1"}]}}},
    }
    assert only(d.diff([], [job], NS))["hook"] is True
    assert only(d.diff([job], [], NS))["hook"] is True
    assert only(d.diff([service("web")], [], NS))["hook"] is False


def test_junk_objects_are_left_out() -> None:
    junk: list[Any] = [
        None,
        "text",
        [],
        {"kind": "Service"},
        {"metadata": {"name": "x"}},
        {"kind": 3, "metadata": {"name": "x"}},
        {"kind": "Service", "metadata": "nope"},
        {"kind": "Service", "metadata": {"name": ""}},
    ]
    assert d.diff(junk, [], NS) == []


def test_odd_shapes_do_not_break_it() -> None:
    weird = deployment()
    weird["spec"]["template"]["spec"]["containers"] = [
        "not-a-container",
        {"name": 5, "image": "x"},
        {"name": "web", "image": ["list"]},
    ]
    weird["spec"]["replicas"] = True
    entry = only(d.diff([weird], [deployment()], NS))
    assert entry["images"] == [{"container": "web", "old": "shop/web:1.0", "new": None}]
    assert entry["replicas"] == {"old": 2, "new": None}


def test_fields_and_keys_are_bounded() -> None:
    many = {f"k{i:04d}": "v" for i in range(d.MAX_FIELDS * 3)}
    entry = only(d.diff([config_map("big", **many)], [config_map("big")], NS))
    added = entry["keys"]["added"]
    assert len(added) == d.MAX_FIELDS
    assert added[-1] == f"({d.MAX_FIELDS * 2 + 1} more)"
    old, new = deployment(), deployment()
    new["spec"]["template"]["metadata"]["labels"] = {f"l{i}": "x" for i in range(500)}
    assert len(only(d.diff([new], [old], NS))["fields"]) == d.MAX_FIELDS


def test_deep_nesting_is_cut_at_a_depth() -> None:
    def nest(depth: int, leaf: str) -> Any:
        value: Any = leaf
        for _ in range(depth):
            value = {"n": value}
        return value

    old, new = deployment(), deployment()
    old["spec"]["template"]["spec"]["deep"] = nest(500, "a")
    new["spec"]["template"]["spec"]["deep"] = nest(500, "b")
    [path] = only(d.diff([new], [old], NS))["fields"]
    assert path.startswith("spec.template.spec.deep.n.n")
    assert path.count(".") < d.MAX_DEPTH + 5


def test_answer_shape() -> None:
    assert d.answer("prod", "sha256:" + "0" * 64, []) == {
        "environment": "prod",
        "digest": "sha256:" + "0" * 64,
        "objects": [],
    }
