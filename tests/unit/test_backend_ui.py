"""The dashboard's pure parts: session records (sealed pending logins:
test_dashboard_sealing.py), CSRF checks, PKCE, page rows,
redirect targets, server-sent events. The pages themselves run in a real browser against
the stack (tests/e2e/ui)."""

from __future__ import annotations

import base64
import hashlib
import json

from scipian_backend.errors import Forbidden, NotFound, Unauthorized
from scipian_backend.identity.authn import Identity
from scipian_backend.ui import csrf, logs
from scipian_backend.ui.login import challenge
from scipian_backend.ui.pages import event_row, release_row
from scipian_backend.ui.routes import _local_path, _words
from scipian_backend.ui.session import Session
from scipian_backend.ui.sessions_store import decode, encode, secret_name

WHO = Identity("oidc:alice@example.test", ("oidc:team-a",), "sub-a", 1_700_000_000)


def test_a_session_secret_holds_the_identity_and_csrf_and_nothing_else() -> None:
    session = Session(WHO, 2000.0, "csrf-secret")
    data = {"session.json": encode(session)}
    assert decode(data) == session
    doc = json.loads(base64.b64decode(data["session.json"]))
    assert sorted(doc) == ["auth_time", "csrf", "expires", "groups", "subject", "user"]
    assert decode({}) is None and decode({"session.json": "not base64!"}) is None
    assert decode(None) is None


def test_a_session_secret_is_named_by_a_hash_of_the_cookie_never_the_cookie() -> None:
    sid = "a" * 43
    assert secret_name(sid) == "session-" + hashlib.sha256(sid.encode()).hexdigest()
    assert sid not in secret_name(sid)


def test_csrf_token_and_origin() -> None:
    assert csrf.token_ok("abc", "abc")
    assert not csrf.token_ok("abd", "abc")
    assert not csrf.token_ok(None, "abc")
    assert not csrf.token_ok("", "abc")
    base = "http://127.0.0.1:8080"
    assert csrf.same_origin(None, base)
    assert csrf.same_origin("http://127.0.0.1:8080", base)
    assert not csrf.same_origin("http://127.0.0.1:9999", base)
    assert not csrf.same_origin("https://127.0.0.1:8080", base)
    assert not csrf.same_origin("null", base)


def test_pkce_challenge_is_rfc7636_s256() -> None:
    # RFC 7636 appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge(verifier) == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_after_login_only_dashboard_paths() -> None:
    assert _local_path("/ui/environments/dev") == "/ui/environments/dev"
    for bad in ("https://evil.example/", "//evil.example/ui/", "/api/v1/x", "/ui\\..", ""):
        assert _local_path(bad) == "/ui/"


def test_errors_in_the_plugins_words() -> None:
    auth = "Invalid authentication for provided environment."
    assert _words(Forbidden("oidc:a may not use environment prod"), "prod") == auth
    assert _words(Unauthorized("expired"), "prod") == auth
    assert _words(NotFound("no environment nope"), "nope") == "Invalid environment referenced."
    assert _words(NotFound("logs of ns/p: not found"), "dev") == "logs of ns/p: not found"


def test_release_row_has_helms_columns_and_nothing_else() -> None:
    record = {
        "name": "web",
        "namespace": "shop",
        "version": 3,
        "driver": "secret",
        "info": {
            "last_deployed": "2026-11-29T11:00:00.123456789+01:00",
            "status": "failed",
            "description": "Upgrade failed",
        },
        "chart": {"metadata": {"name": "shop-web", "version": "1.1.0", "appVersion": "1.1"}},
    }
    row = release_row(record)
    assert row == {
        "name": "web",
        "namespace": "shop",
        "revision": 3,
        "updated": "2026-11-29 11:00:00",
        "status": "failed",
        "chart": "shop-web-1.1.0",
        "app_version": "1.1",
        "description": "Upgrade failed",
    }
    undecodable = {"name": "x", "namespace": "n", "version": 1, "info": {"status": "unknown"}}
    assert release_row({**undecodable, "error": "bad gzip"})["description"] == "bad gzip"


def test_event_row() -> None:
    e = {
        "involvedObject": {"kind": "Environment", "name": "dev"},
        "type": "Warning",
        "reason": "CredentialsDenied",
        "message": "denied oidc:mallory@example.test: forbidden",
        "lastTimestamp": "2026-11-30T01:00:00Z",
    }
    assert event_row(e)["environment"] == "dev" and event_row(e)["count"] == 1


def test_log_lines_split_across_chunks() -> None:
    got = list(logs.split_lines([b"one\ntw", b"o\r\nthr", b"ee\n", b"tail"], 100))
    assert got == ["one", "two", "three", "tail"]


def test_log_lines_are_cut_at_the_maximum() -> None:
    # A pod printing without newlines: one cut line, the rest dropped until a newline.
    endless = (b"a" * 1000 for _ in range(10_000))
    got = list(logs.split_lines(endless, 16))
    assert got == ["a" * 16 + " [line cut at 16 bytes]"]
    got = list(logs.split_lines([b"x" * 20, b"y" * 5 + b"\nok\n", b"z" * 16, b"\n"], 16))
    assert got == ["x" * 16 + " [line cut at 16 bytes]", "ok", "z" * 16]


def test_follows_per_user_and_per_replica() -> None:
    from scipian_backend.errors import ServiceUnavailable
    from scipian_backend.ui.follows import Follows, TooManyFollows

    follows = Follows(per_user=2, per_replica=3)
    a1, a2 = follows.open("alice", "s1"), follows.open("alice", "s2")
    try:
        follows.open("alice", "s1")
        raise AssertionError("a third follow for alice")
    except TooManyFollows as e:
        assert e.status == 429
    b1 = follows.open("bob", "s3")
    try:
        follows.open("carol", "s4")
        raise AssertionError("a fourth follow on the replica")
    except ServiceUnavailable:
        pass
    a1.release()
    a1.release()  # idempotent: gives back one slot only
    assert follows.count() == 2 and follows.count("alice") == 1
    woken: list[str] = []
    a2.on_end(lambda: woken.append("a2"))
    b1.on_end(lambda: woken.append("b1"))
    assert follows.end_session("s2") == 1
    assert woken == ["a2"] and a2.ended and not b1.ended


def test_follow_flags_default_to_the_contract() -> None:
    from scipian_backend.__main__ import parser

    args = parser().parse_args(["serve", "--issuer=https://idp.example"])
    assert (args.ui_follows_per_user, args.ui_follows_per_replica) == (10, 200)
    assert args.ui_log_line_bytes == 16384


def test_server_sent_event_is_one_event_per_line() -> None:
    assert logs._sse("line", "GET / 200") == "event: line\ndata: GET / 200\n\n"
    assert "\r" not in logs._sse("line", "a\rb")


def test_promotion_strip_and_summary() -> None:
    from scipian_backend.ui.promotions import strip, summary

    promo = {
        "metadata": {"name": "web-abcde", "creationTimestamp": "2026-11-30T01:00:00Z"},
        "spec": {
            "release": "web",
            "namespace": "shop",
            "chart": {"name": "shop-web", "version": "1.2.0", "digest": "sha256:" + "0" * 64},
            "initiator": {"user": "oidc:carol@example.test"},
            "justification": "release 1.2.0",
        },
        "status": {
            "phase": "AwaitingApproval",
            "steps": [
                {"environment": "dev", "phase": "Succeeded"},
                {"environment": "prod", "phase": "AwaitingApproval", "approvalsRequired": 1},
            ],
        },
    }
    assert strip(promo) == {
        "name": "web-abcde",
        "phase": "AwaitingApproval",
        "steps": [
            {"environment": "dev", "phase": "Succeeded"},
            {"environment": "prod", "phase": "AwaitingApproval"},
        ],
    }
    row = summary(promo)
    assert row["chart"] == "shop-web-1.2.0" and row["initiator"] == "oidc:carol@example.test"
    rollback = {**promo, "spec": {**promo["spec"], "chart": None, "rollbackTo": 3}}  # type: ignore[dict-item]
    assert summary(rollback)["chart"] == "rollback to revision 3"
    glass = {**rollback, "spec": {**rollback["spec"], "breakGlass": True}}  # type: ignore[dict-item]
    assert summary(glass)["chart"] == "rollback to revision 3 (break-glass)"


def test_promotion_record_shows_who_what_where_when_why() -> None:
    from scipian_backend.ui.promotions import record, step_row

    digest = "sha256:" + "a" * 64
    promo = {
        "spec": {
            "chart": {"name": "shop-web", "version": "1.2.0", "digest": digest},
            "through": ["dev", "prod"],
            "valuesDigests": {"prod": "sha256:" + "c" * 64, "dev": "sha256:" + "b" * 64},
            "initiator": {"user": "oidc:carol@example.test", "groups": ["oidc:developers"]},
        },
        "status": {
            "phase": "Cancelled",
            "executedBy": "replica-1",
            "cancelRequest": {"user": "oidc:carol@example.test", "justification": "wrong chart",
                              "time": "2026-12-07T08:00:00Z", "reason": "cancelled by carol"},
        },
    }  # fmt: skip
    rec = record(promo)
    assert rec["chart_digest"] == digest and rec["executed_by"] == "replica-1"
    assert rec["values"] == [("dev", "sha256:" + "b" * 64), ("prod", "sha256:" + "c" * 64)]
    assert rec["cancel"]["justification"] == "wrong chart"
    step = {
        "environment": "prod",
        "renderDigest": digest,
        "executedBy": "replica-2",
        "approvals": [{"user": "d", "time": "t", "justification": "j", "diffDigest": digest}],
    }
    row = step_row(step)
    assert row["render_digest"] == digest and row["executed_by"] == "replica-2"
    assert row["approvals"] == [{"user": "d", "time": "t", "justification": "j", "digest": digest}]


def test_the_diff_shows_secrets_as_present_and_key_names_only() -> None:
    from scipian_backend.ui.promotions import diff_view

    found = {
        "environment": "prod",
        "digest": "sha256:" + "d" * 64,
        "objects": [
            {"kind": "ConfigMap", "namespace": "shop", "name": "web", "change": "changed",
             "hook": False, "keys": {"added": ["b"], "removed": [], "changed": ["a"]}},
            # A diff that named a Secret's keys still shows only `present`.
            {"kind": "Secret", "namespace": "shop", "name": "web", "change": "changed",
             "hook": False, "keys": {"changed": ["password"]}},
            {"kind": "Deployment", "namespace": "shop", "name": "web", "change": "changed",
             "hook": False, "images": [{"container": "web", "old": "nginx:1", "new": "nginx:2"}],
             "replicas": {"old": 1, "new": 2},
             "fields": ["spec.template.spec.containers[0].image"]},
        ],
    }  # fmt: skip
    view = diff_view(found)
    cm, secret, deploy = view["objects"]
    assert cm["keys"] == {"added": ["b"], "changed": ["a"]} and not cm["secret"]
    assert secret["secret"] and secret["keys"] == {}
    assert deploy["images"] == [("web", "nginx:1", "nginx:2")] and deploy["replicas"] == (1, 2)
    assert view["digest"] == "sha256:" + "d" * 64


class Approvers:
    def __init__(self, allowed: bool) -> None:
        self.allowed, self.asked = allowed, 0

    def may_approve(self, who: Identity, env_id: str) -> bool:
        self.asked += 1
        return self.allowed


def test_who_sees_an_approve_button() -> None:
    from types import SimpleNamespace

    from scipian_backend.ui.promotions import PromotionPages

    def promo(phase: str, step: dict[str, object]) -> dict[str, object]:
        return {
            "spec": {"initiator": {"user": "oidc:carol@example.test"}},
            "status": {"phase": phase, "steps": [step]},
        }

    waiting = {"environment": "prod", "phase": "AwaitingApproval", "approvalsRequired": 1}
    dave = Identity("oidc:dave@example.test", ("oidc:release-managers",), "d")
    carol = Identity("oidc:carol@example.test", ("oidc:platform-admins",), "c")
    rbac = Approvers(True)
    pages = PromotionPages(SimpleNamespace(authorizer=rbac))  # type: ignore[arg-type]
    assert pages._may_approve(promo("AwaitingApproval", waiting), waiting, dave)
    assert not pages._may_approve(promo("AwaitingApproval", waiting), waiting, carol)
    done = {**waiting, "approvals": [{"user": "oidc:dave@example.test"}]}
    assert not pages._may_approve(promo("Running", done), done, dave)
    deploying = {**waiting, "phase": "Deploying"}
    assert not pages._may_approve(promo("Running", deploying), deploying, dave)
    assert not pages._may_approve(promo("Failed", waiting), waiting, dave)
    none_needed = {**waiting, "approvalsRequired": 0}
    assert not pages._may_approve(promo("Running", none_needed), none_needed, dave)
    no_rbac = PromotionPages(SimpleNamespace(authorizer=Approvers(False)))  # type: ignore[arg-type]
    assert not no_rbac._may_approve(promo("AwaitingApproval", waiting), waiting, dave)
    assert not pages._may_approve(promo("Cancelled", waiting), waiting, dave)


class Cancellers:
    def __init__(self, subresource: bool, deploy: set[str]) -> None:
        self.subresource, self.deploy = subresource, deploy

    def allowed_on(self, who: Identity, verb: str, resource: str, name: str, sub: str) -> bool:
        return self.subresource and (verb, resource, sub) == ("update", "promotions", "cancel")

    def may_deploy(self, who: Identity, env_id: str) -> bool:
        return env_id in self.deploy


def test_who_sees_a_cancel_button() -> None:
    from types import SimpleNamespace

    from scipian_backend.ui.promotions import PromotionPages

    def promo(phase: str, **status: object) -> dict[str, object]:
        return {
            "metadata": {"name": "web-abcde"},
            "spec": {"initiator": {"user": "oidc:carol@example.test"}, "through": ["dev", "prod"]},
            "status": {"phase": phase, **status},
        }

    carol = Identity("oidc:carol@example.test", (), "c")
    dave = Identity("oidc:dave@example.test", (), "d")

    def pages(subresource: bool, deploy: set[str]) -> PromotionPages:
        return PromotionPages(SimpleNamespace(authorizer=Cancellers(subresource, deploy)))  # type: ignore[arg-type]

    nobody = pages(False, {"dev"})
    assert nobody._may_cancel(promo("Running"), carol)  # the initiator
    assert not nobody._may_cancel(promo("Running"), dave)  # deploys to dev only
    assert pages(False, {"dev", "prod"})._may_cancel(promo("Running"), dave)
    assert pages(True, set())._may_cancel(promo("AwaitingApproval"), dave)
    for phase in ("Succeeded", "Failed", "Cancelled"):
        assert not nobody._may_cancel(promo(phase), carol)
    asked = promo("Running", cancelRequest={"user": "oidc:carol@example.test"})
    assert not nobody._may_cancel(asked, carol)  # already asked


def test_promotion_pages_render_escaped_with_the_digest_in_the_form() -> None:
    """The templates with StrictUndefined: every name they use exists, the approve form
    carries the digest shown, and text the initiator wrote is escaped."""
    from scipian_backend.ui.promotions import diff_view, record, step_row, summary
    from scipian_backend.ui.render import Renderer

    digest = "sha256:" + "e" * 64
    promo = {
        "metadata": {"name": "web-abcde", "creationTimestamp": "2026-12-07T08:00:00Z"},
        "spec": {
            "release": "web", "namespace": "shop", "through": ["prod"],
            "chart": {"name": "shop-web", "version": "1.2.0", "digest": "sha256:" + "0" * 64},
            "initiator": {"user": "oidc:carol@example.test"},
            "justification": "<script>alert(1)</script>",
        },
        "status": {"phase": "AwaitingApproval", "steps": [
            {"environment": "prod", "phase": "AwaitingApproval", "approvalsRequired": 1,
             "renderDigest": digest}]},
    }  # fmt: skip
    session = Session(Identity("oidc:dave@example.test", (), "d"), 2e9, "tok")
    step = {**step_row(promo["status"]["steps"][0]), "can_approve": True}  # type: ignore[index]
    page = Renderer().html(
        "promotion.html",
        {"promotion": summary(promo), "record": record(promo), "steps": [step],
         "can_cancel": True, "approved": "", "cancelled": False},
        session,
    )  # fmt: skip
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert f'name="diffDigest" value="{digest}"' in page
    assert 'action="/ui/promotions/web-abcde/cancel"' in page
    secret = {"kind": "Secret", "namespace": "shop", "name": "<b>x</b>", "change": "added"}
    found = {"environment": "prod", "digest": digest, "objects": [secret]}
    diff = Renderer().html(
        "promotion_diff.html",
        {"promotion": summary(promo), "step": step, "diff": diff_view(found), "can_approve": True},
        session,
    )
    assert "present" in diff and "&lt;b&gt;x&lt;/b&gt;" in diff
    assert f'name="diffDigest" value="{digest}"' in diff
