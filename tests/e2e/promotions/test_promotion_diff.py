"""The diff approvers see (change.md §6) against the real stack, over raw HTTP.

prod holds this test's release (installed by prod's admin: chart shop-web+diff 2.0.0 with
its defaults). carol promotes 2.1.0 through staging and prod with values that change the
image, add a Secret (its value a marker) and change and add ConfigMap keys (their values
markers). Once prod awaits its approval, its diff shows the image change, the Secret only
as `present: added` and the ConfigMap's key names; no marker appears anywhere in any
answer. Its `digest` is the step's renderDigest, and staging's diff, read after staging
ran, lists only the kept Secret (always listed) with its own renderDigest (the digest
does not move with the live side).
Who: prod's approver (dave) and the initiator (carol, who may read prod's releases) read
it; bob (reads prod's releases, neither approver nor initiator), alice and mallory get the
403 a missing promotion gets.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Stack
from tests.e2e.promotions.conftest import chart_copy
from tests.e2e.promotions.world import NAMESPACE, Api, Archive, Flow, Helm, Logins, step_of

pytestmark = pytest.mark.stack

SECRET_T = """{{- if .Values.dbPassword }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-db
stringData:
  password: {{ .Values.dbPassword | quote }}
{{- end }}
"""
CONFIG_T = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cfg
data:
{{- range $k, $v := .Values.config }}
  {{ $k }}: {{ $v | quote }}
{{- end }}
"""


@pytest.fixture(scope="module")
def diff_charts(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    """shop-web with a Secret (only when dbPassword is set) and a ConfigMap of
    `.Values.config`, as 2.0.0 and 2.1.0."""
    out = tmp_path_factory.mktemp("diff-charts")

    def more(chart: Path) -> None:
        (chart / "templates" / "db-secret.yaml").write_text(SECRET_T)
        (chart / "templates" / "config.yaml").write_text(CONFIG_T)
        values = yaml.safe_load((chart / "values.yaml").read_text())
        values.update(dbPassword="", config={"a": "one", "b": "two"})
        (chart / "values.yaml").write_text(yaml.safe_dump(values))

    source = chart_copy(out, "src", more)
    return {v: helm.package(v, out / v, source) for v in ("2.0.0", "2.1.0")}


def diff(api: Api, token: str, name: str, env: str) -> Any:
    return api.call("GET", f"/api/v1/promotions/{name}/steps/{env}/diff", token)


def test_the_diff_shows_shapes_never_values(
    stack: Stack,
    api: Api,
    flow: Flow,
    logins: Logins,
    helm: Helm,
    diff_charts: dict[str, Archive],
    release: str,
) -> None:
    helm.run(
        stack.kubeconfig("prod"),
        "upgrade", "--install", release, str(diff_charts["2.0.0"].path), "-n", NAMESPACE,
    )  # fmt: skip
    mark = uuid.uuid4().hex
    password, value, fresh = f"pw-{mark}", f"cm-{mark}", f"new-{mark}"
    sets = [
        "image=registry.example/shop-web:1.1",
        f"dbPassword={password}",
        f"config.b={value}",
        f"config.c={fresh}",
    ]
    carol = logins.fresh("carol")
    promo = flow.start(carol, release, diff_charts["2.1.0"], ["staging", "prod"], set={"*": sets})
    name = promo["metadata"]["name"]
    promo = flow.awaiting(carol, promo, "prod")
    assert step_of(promo, "prod")["phase"] == "AwaitingApproval", promo["status"]

    dave = logins.token("dave")
    answer = diff(api, dave, name, "prod")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    for text in (password, value, fresh, mark):
        assert text not in answer.text
    assert body["environment"] == "prod"
    assert body["digest"] == step_of(promo, "prod")["renderDigest"]
    found = {(o["kind"], o["name"]): o for o in body["objects"]}
    assert [(o["kind"], o["namespace"], o["name"]) for o in body["objects"]] == sorted(
        (o["kind"], o["namespace"], o["name"]) for o in body["objects"]
    )
    deployment = found[("Deployment", release)]
    assert deployment["change"] == "changed"
    assert deployment["images"] == [
        {"container": "web", "old": "registry.example/shop-web:1.0",
         "new": "registry.example/shop-web:1.1"},
    ]  # fmt: skip
    assert "spec.template.spec.containers[web].image" in deployment["fields"]
    secret = found[("Secret", f"{release}-db")]
    assert (secret["change"], secret["present"], secret["keys"]) == ("added", "added", None)
    config = found[("ConfigMap", f"{release}-cfg")]
    assert config["change"] == "changed"
    assert config["keys"] == {"added": ["c"], "removed": [], "changed": ["b"]}
    assert {o["namespace"] for o in body["objects"]} == {NAMESPACE}

    # the initiator, who may read prod's releases, reads the same answer
    mine = diff(api, carol, name, "prod")
    assert mine.status_code == 200 and mine.json() == body

    # staging ran: its live side is its desired side now, and its digest stayed; only the
    # Secret is listed (kept), as it is whether or not its data changed
    staged = diff(api, carol, name, "staging")
    assert staged.status_code == 200, staged.text
    assert staged.json()["digest"] == step_of(promo, "staging")["renderDigest"]
    assert [(o["kind"], o["change"], o.get("present")) for o in staged.json()["objects"]] == [
        ("Secret", "changed", "kept")
    ]

    # neither approver nor initiator: the 403 of a promotion that does not exist
    missing = f"{release}-none0"
    for user in ("bob", "alice", "mallory"):
        token = logins.token(user)
        refused, absent = diff(api, token, name, "prod"), diff(api, token, missing, "prod")
        assert refused.status_code == absent.status_code == 403, (user, refused.text)
        assert refused.json()["reason"] == absent.json()["reason"] == "Forbidden"
        assert refused.json()["message"] == absent.json()["message"].replace(missing, name)
        assert password not in refused.text
    # alice is neither staging's approver nor the initiator, nor may she read staging
    assert diff(api, logins.token("alice"), name, "staging").status_code == 403
    # an approver learns that a promotion does not exist
    assert diff(api, dave, missing, "prod").status_code == 404
    # the initiator asking for a step the chain does not have
    assert diff(api, carol, name, "dev").status_code == 404

    # nothing of the values on the Promotion or its Events either
    out = stack.kubectl("mgmt", "get", "promotion.scipian.io", name, "-o", "json")
    events = stack.kubectl("mgmt", "get", "events", "-A", "-o", "json")
    for text in (password, value, fresh):
        assert text not in out.stdout and text not in events.stdout
    assert json.loads(out.stdout)["metadata"]["name"] == name
