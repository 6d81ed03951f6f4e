"""The exec credential's pure parts: KUBERNETES_EXEC_INFO, the documents, the merge."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_scipian import cli
from kubectl_scipian.backend import issued as issued_kubeconfig
from kubectl_scipian.errors import ArgumentError, ConfigError
from kubectl_scipian.exec import credential as execcred
from kubectl_scipian.exec import kubeconfig as exec_kubeconfig

CLUSTER = {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="}


def info(version: str, interactive: object) -> dict[str, str]:
    spec = {} if interactive is None else {"interactive": interactive}
    doc = {"apiVersion": version, "kind": "ExecCredential", "spec": spec}
    return {execcred.EXEC_INFO_VAR: json.dumps(doc)}


def test_exec_info() -> None:
    assert execcred.exec_info({}) == (execcred.V1, None)
    assert execcred.exec_info(info(execcred.V1, True)) == (execcred.V1, True)
    assert execcred.exec_info(info(execcred.V1BETA1, False)) == (execcred.V1BETA1, False)
    assert execcred.exec_info(info(execcred.V1, "yes")) == (execcred.V1, None)
    for bad in ("{", "[]"):
        with pytest.raises(ConfigError, match="KUBERNETES_EXEC_INFO"):
            execcred.exec_info({execcred.EXEC_INFO_VAR: bad})
    with pytest.raises(ConfigError, match="v1alpha1"):
        execcred.exec_info(info("client.authentication.k8s.io/v1alpha1", True))


def test_exec_credential_document() -> None:
    doc = execcred.exec_credential(execcred.V1BETA1, "tok", 1_795_000_000.7)
    assert doc == {
        "apiVersion": execcred.V1BETA1,
        "kind": "ExecCredential",
        "spec": {},
        "status": {"token": "tok", "expirationTimestamp": "2026-11-18T11:06:40Z"},
    }


@pytest.mark.parametrize(
    ("expires", "fetched", "now", "want"),
    [
        (1900.0, 1000.0, 1000.0, 1840.0),  # a minute early, as the cache refetches
        (1020.0, 1000.0, 1001.0, 1015.0),  # short lifetime: a quarter of it early
        (1900.0, 1000.0, 1850.0, 1900.0),  # already inside the margin: never in the past
    ],
)
def test_handout_expiry(expires: float, fetched: float, now: float, want: float) -> None:
    assert execcred.handout_expiry(expires, fetched, now, 60.0) == want


def issued() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dev", "cluster": CLUSTER}],
        "users": [{"name": "dev", "user": {"token": "secret-token"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "dev"}}],
        "current-context": "dev",
    }


def test_token_and_cluster_of_issued_kubeconfig() -> None:
    assert issued_kubeconfig.token_of(issued()) == "secret-token"
    assert issued_kubeconfig.current_entries(issued())[0] == CLUSTER
    with pytest.raises(Exception, match="without a usable context"):
        issued_kubeconfig.current_entries({"contexts": []})


def ours(env_id: str = "dev", **kw: Any) -> dict[str, Any]:
    return exec_kubeconfig.exec_kubeconfig(env_id, CLUSTER, backend_url="https://b.example", **kw)


def test_exec_kubeconfig_has_no_token() -> None:
    doc = ours(config_dir="/tmp/cfg")
    assert "token" not in json.dumps(doc)
    [user] = doc["users"]
    exec_config = user["user"]["exec"]
    assert exec_config["apiVersion"] == execcred.V1
    assert exec_config["command"] == "kubectl-scipian"
    assert exec_config["args"] == ["--backend", "https://b.example", "--env", "dev", "credential"]
    assert exec_config["interactiveMode"] == "IfAvailable"
    assert exec_config["provideClusterInfo"] is False
    assert exec_config["installHint"]
    assert exec_config["env"] == [{"name": "KUBECTL_SCIPIAN_CONFIG_DIR", "value": "/tmp/cfg"}]
    assert doc["current-context"] == "dev"
    assert doc["contexts"][0]["context"] == {"cluster": "scipian-dev", "user": "scipian-dev"}
    assert doc["clusters"][0]["cluster"] == CLUSTER
    with_ca = ours(certificate_authority="/ca.pem")["users"][0]["user"]["exec"]["args"]
    assert with_ca[2:4] == ["--certificate-authority", "/ca.pem"]


def theirs() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kind", "cluster": {"server": "https://k"}}],
        "users": [{"name": "kind", "user": {"token": "theirs"}}],
        "contexts": [{"name": "kind", "context": {"cluster": "kind", "user": "kind"}}],
        "current-context": "kind",
        "preferences": {"colors": True},
    }


def test_merge_adds_only_our_entries_and_keeps_the_current_context() -> None:
    merged = exec_kubeconfig.merge(theirs(), ours())
    assert [c["name"] for c in merged["contexts"]] == ["kind", "dev"]
    assert [u["name"] for u in merged["users"]] == ["kind", "scipian-dev"]
    assert merged["current-context"] == "kind"
    assert merged["preferences"] == {"colors": True}
    assert merged["users"][0] == theirs()["users"][0]
    # Again, with a new server: updated in place, nothing duplicated.
    moved = exec_kubeconfig.exec_kubeconfig(
        "dev", {"server": "https://new"}, backend_url="https://b.example"
    )
    again = exec_kubeconfig.merge(merged, moved)
    assert [c["name"] for c in again["clusters"]] == ["kind", "scipian-dev"]
    assert again["clusters"][1]["cluster"] == {"server": "https://new"}
    assert exec_kubeconfig.merge(None, ours())["current-context"] == "dev"


def test_merge_never_overwrites_someone_elses_entry() -> None:
    foreign_context = theirs()
    foreign_context["contexts"].append(
        {"name": "dev", "context": {"cluster": "kind", "user": "kind"}}
    )
    with pytest.raises(exec_kubeconfig.MergeConflict, match="context 'dev'"):
        exec_kubeconfig.merge(foreign_context, ours())
    foreign_user = theirs()
    foreign_user["users"].append({"name": "scipian-dev", "user": {"token": "x"}})
    with pytest.raises(exec_kubeconfig.MergeConflict, match="user 'scipian-dev'"):
        exec_kubeconfig.merge(foreign_user, ours())


def test_merge_target_follows_kubectl() -> None:
    sep = os.pathsep
    assert exec_kubeconfig.merge_target({"KUBECONFIG": f"/a{sep}/b", "HOME": "/h"}) == Path("/a")
    assert exec_kubeconfig.merge_target({"KUBECONFIG": "", "HOME": "/h"}) == Path("/h/.kube/config")


def test_merge_into_keeps_a_backup_and_writes_0600(tmp_path: Path) -> None:
    target = tmp_path / "kube" / "config"
    exec_kubeconfig.merge_into(target, ours("dev"))
    assert not target.with_name("config.bak").exists()  # nothing to back up
    before = target.read_text()
    exec_kubeconfig.merge_into(target, ours("prod"))
    assert target.with_name("config.bak").read_text() == before
    doc = yaml.safe_load(target.read_text())
    assert [c["name"] for c in doc["contexts"]] == ["dev", "prod"]
    assert doc["current-context"] == "dev"
    for path in (target, target.with_name("config.bak")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []


def parse(*argv: str) -> Any:
    return cli.parse(list(argv), io.StringIO())


def test_cli_env_commands() -> None:
    got = parse("dev", "credential")
    assert (got.command, got.env_id) == ("credential", "dev")
    got = parse("--backend", "https://b", "--env", "dev", "credential")
    assert (got.command, got.env_id, got.backend) == ("credential", "dev", "https://b")
    got = parse("dev", "kubeconfig", "--merge")
    assert (got.command, got.merge, got.output) == ("kubeconfig", True, None)
    assert parse("dev", "kubeconfig", "--output", "f").output == "f"
    with pytest.raises(ArgumentError, match="not allowed with"):
        parse("dev", "kubeconfig", "--merge", "--output", "f")
    with pytest.raises(ArgumentError, match="takes one environment"):
        parse("dev,prod", "credential")
    with pytest.raises(ArgumentError, match="unrecognized arguments"):
        parse("dev", "credential", "extra")
