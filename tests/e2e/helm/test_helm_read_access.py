"""Who may read Helm releases through Scipian, and that nothing secret comes out.

alice is a `view` user on dev: she reads a release's history through Scipian while the
cluster still refuses her its Secrets. Every answer of the backend's release routes and
every output format of the plugin is searched for the chart's values, a Secret's data and
the release record's own payload. Releases and Secrets are this module's own.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import Stack
from tests.e2e.helm.world import Helm
from tests.e2e.test_plugin_access import login, make_env
from tests.stack.idp_login import authcode_flow_tokens
from tests.stack.login import run_plugin
from tests.stack.releases import CHART, helm_env

pytestmark = pytest.mark.stack
AUTH = "Invalid authentication for provided environment.\n"
ENV = "Invalid environment referenced.\n"


@dataclass(frozen=True)
class Own:
    ns: str
    value: str  # the release's apiKey value
    secret_data: str  # an ordinary Secret's data in the same namespace
    record: str  # the start of the release record's payload as stored


@pytest.fixture(scope="module")
def own(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
    home = tmp_path_factory.mktemp("helm-access")
    ns = f"t-helm-acc-{uuid.uuid4().hex[:6]}"
    value, data = f"apikey-{uuid.uuid4().hex}", f"password-{uuid.uuid4().hex}"
    for cluster in ("dev", "prod"):
        helm = Helm(
            Path(stack.env["STACK_HELM"]), helm_env(home / cluster, stack.kubeconfig(cluster))
        )
        stack.kubectl(cluster, "create", "namespace", ns)
        helm.run("install", "acc", str(CHART), "-n", ns, "--set", f"apiKey={value}")
        helm.run("upgrade", "acc", str(CHART), "-n", ns, "--set", f"apiKey={value}")
    stack.kubectl(
        "dev", "create", "secret", "generic", "app", "-n", ns, f"--from-literal=password={data}"
    )
    stored = stack.kubectl(
        "dev", "get", "secret", "sh.helm.release.v1.acc.v1", "-n", ns, "-o", "json"
    )
    record = json.loads(stored.stdout)["data"]["release"][:48]
    yield Own(ns, value, data, record)
    for cluster in ("dev", "prod"):
        stack.kubectl(cluster, "delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def users(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return {
        u: login(stack, u, make_env(stack, tmp_path_factory.mktemp(u) / "config"))
        for u in ("alice", "carol", "mallory")
    }


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    env = stack.env
    return {
        u: authcode_flow_tokens(
            env["STACK_IDP_ISSUER"], env["STACK_IDP_CLIENT_ID"], u, env["STACK_PASSWORD"]
        )["id_token"]
        for u in ("alice", "carol")
    }


def forbidden_words(own: Own) -> list[str]:
    words = [own.value, own.secret_data, own.record]
    words += [base64.b64encode(w.encode()).decode()[:24] for w in (own.value, own.secret_data)]
    return [*words, '"manifest"', '"config"', '"notes"', "Its API key is"]


def api(stack: Stack, token: str | None, path: str) -> requests.Response:
    s = requests.Session()
    s.trust_env = False
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{stack.env['SCIPIAN_BACKEND_URL']}/api/v1/environments{path}"
    return s.get(url, headers=headers, timeout=30)


def test_a_view_user_reads_history_but_not_secrets(
    own: Own, users: dict[str, dict[str, str]]
) -> None:
    alice = users["alice"]
    history = run_plugin(["dev", "helm", "history", "acc", "-n", own.ns], alice)
    assert history.returncode == 0, history.stderr
    rows = [line.split("\t") for line in history.stdout.splitlines()[1:]]
    assert [(r[0].strip(), r[2].strip()) for r in rows] == [("1", "superseded"), ("2", "deployed")]
    secrets = run_plugin(["dev", "get", "secrets", "-n", own.ns], alice)
    assert secrets.returncode == 1
    assert 'cannot list resource "secrets"' in secrets.stderr and "Forbidden" in secrets.stderr


def test_no_answer_holds_values_or_secret_data(
    stack: Stack, own: Own, users: dict[str, dict[str, str]], tokens: dict[str, str]
) -> None:
    answers: list[str] = []
    for path in (
        f"/dev/releases?namespace={own.ns}",
        "/dev/releases?allNamespaces=true",
        f"/dev/releases?namespace={own.ns}&driver=secret",
        f"/dev/releases/{own.ns}/acc/history",
        f"/dev/releases/{own.ns}/acc/history?max=1",
        f"/dev/releases/{own.ns}/acc",
        f"/dev/releases/{own.ns}/acc?revision=1",
    ):
        got = api(stack, tokens["alice"], path)
        assert got.status_code == 200, (path, got.text)
        answers.append(got.text)
    for sub in (["list", "-n", own.ns], ["list", "-A"], ["history", "acc", "-n", own.ns]):
        for fmt in ("table", "json", "yaml"):
            done = run_plugin(["dev", "helm", *sub, "-o", fmt], users["alice"])
            assert done.returncode == 0, done.stderr
            answers.append(done.stdout + done.stderr)
    for fmt in ("table", "json", "yaml"):
        for extra in ([], ["--revision", "1"]):
            done = run_plugin(
                ["dev", "helm", "status", "acc", "-n", own.ns, "-o", fmt, *extra], users["alice"]
            )
            assert done.returncode == 0, done.stderr
            answers.append(done.stdout + done.stderr)
    # Each answer is about the release (its name, or its chart in history's table).
    assert all("acc" in a or "shop-web-1.0.0" in a for a in answers)
    for word in forbidden_words(own):
        assert not [a for a in answers if word in a], word


@pytest.mark.parametrize(
    ("user", "env", "line"),
    [
        ("alice", "prod", AUTH),  # exists, not allowed
        ("alice", "nowhere", AUTH),  # missing, not allowed: no existence oracle
        ("mallory", "dev", AUTH),
        ("carol", "nowhere", ENV),  # allowed everywhere, no such environment
    ],
)
def test_the_rfc_error_lines(
    users: dict[str, dict[str, str]], user: str, env: str, line: str
) -> None:
    done = run_plugin([env, "helm", "history", "acc", "-n", "default"], users[user])
    assert (done.returncode, done.stdout, done.stderr) == (1, "", line)


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        (None, "/dev/releases?namespace=default", 401),
        ("alice", "/prod/releases?namespace=default", 403),
        ("alice", "/nowhere/releases?namespace=default", 403),
        ("carol", "/nowhere/releases?namespace=default", 404),
        ("carol", "/dev/releases?namespace=Not_A_Namespace", 400),
        ("carol", "/dev/releases?driver=tape", 400),
        ("carol", "/dev/releases/default/Bad..Name/history", 400),
    ],
)
def test_the_error_contract(
    stack: Stack, tokens: dict[str, str], user: str | None, path: str, status: int
) -> None:
    got = api(stack, tokens[user] if user else None, path)
    assert got.status_code == status
    assert set(got.json()) == {"reason", "message"}


def test_an_undecodable_record_is_reported(
    stack: Stack, own: Own, users: dict[str, dict[str, str]]
) -> None:
    broken = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "sh.helm.release.v1.broken.v1",
            "namespace": own.ns,
            "labels": {"owner": "helm", "name": "broken", "version": "1", "status": "deployed"},
        },
        "data": {"release": "this is not base64!"},
    }
    stack.kubectl("dev", "apply", "-f", "-", input=json.dumps(broken))
    try:
        done = run_plugin(["dev", "helm", "history", "broken", "-n", own.ns], users["alice"])
        assert done.returncode == 0
        assert done.stderr == (
            "WARNING: release record not decodable: "
            f"configmap {own.ns}/sh.helm.release.v1.broken.v1: not base64\n"
        )
        row = done.stdout.splitlines()[1].split("\t")
        assert [c.strip() for c in row[:5]] == [
            "1",
            "Mon Jan  1 00:00:00 0001",
            "unknown",
            "MISSING",
            "MISSING",
        ]
        listed = run_plugin(["dev", "helm", "list", "-n", own.ns], users["alice"])
        assert "sh.helm.release.v1.broken.v1" in listed.stderr and listed.returncode == 0

    finally:  # the other tests of this module list the same namespace
        stack.kubectl("dev", "delete", "configmap", "sh.helm.release.v1.broken.v1", "-n", own.ns)


def test_several_environments_in_one_list(own: Own, users: dict[str, dict[str, str]]) -> None:
    carol = users["carol"]
    table = run_plugin(["dev,prod", "helm", "list", "-n", own.ns], carol)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split("\t")[0].strip() == "ENV" and lines[0].split("\t")[1].strip() == "NAME"
    assert [
        (c[0].strip(), c[1].strip(), c[3].strip()) for c in (x.split("\t") for x in lines[1:])
    ] == [
        ("dev", "acc", "2"),
        ("prod", "acc", "2"),
    ]
    as_json = run_plugin(["dev,prod", "helm", "list", "-n", own.ns, "-o", "json"], carol)
    items = json.loads(as_json.stdout)
    assert [(i["environment"], i["name"], i["revision"]) for i in items] == [
        ("dev", "acc", "2"),
        ("prod", "acc", "2"),
    ]
    # Each environment's rows are its own `helm list`, the ENV column added.
    single = run_plugin(["prod", "helm", "list", "-n", own.ns, "-o", "json"], carol)
    assert json.loads(single.stdout) == [{k: v for k, v in items[1].items() if k != "environment"}]
    # One environment refused: the others still print, the refusal is one line, exit 1.
    partial = run_plugin(["dev,prod", "helm", "list", "-n", own.ns], users["alice"])
    assert partial.returncode == 1
    assert partial.stderr == "prod: " + AUTH
    assert [line.split("\t")[0].strip() for line in partial.stdout.splitlines()[1:]] == ["dev"]
