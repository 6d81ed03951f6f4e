"""The pure parts of the plugin's access requests (change.md §9): `--for` as a Go duration,
namespaces and names, the `requests` table (kubectl's printer columns), `--wait`'s lines and
exit codes, the refusal hint; and bad input refused before any network (one line on
stderr, exit 2)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from kubectl_scipian import cli, errors
from kubectl_scipian.accessrequests import decide, flags, printers, wait
from kubectl_scipian.backend import client as backend
from kubectl_scipian.context import Context
from kubectl_scipian.errors import BackendUnreachable, UsageError

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)
NAME = "prod-deploy-x7k2p"


def context(tmp_path: Path, environ: dict[str, str] | None = None) -> tuple[Context, Any, Any]:
    out, err = io.StringIO(), io.StringIO()
    # Port 9 (discard) is never contacted: bad input is refused before any network.
    env = {"KUBECTL_SCIPIAN_CONFIG_DIR": str(tmp_path), "SCIPIAN_BACKEND_URL": "http://127.0.0.1:9"}
    return Context(out, err, {**env, **(environ or {})}, interactive=False), out, err


def request(
    phase: str = "Pending", rv: str = "1", level: str = "deploy", **status: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "accessrequests.scipian.io/v1alpha1",
        "kind": "AccessRequest",
        "metadata": {"name": NAME, "resourceVersion": rv,
                     "creationTimestamp": "2026-12-07T11:55:00Z"},
        "spec": {"environment": "prod", "level": level, "namespaces": ["shop", "web"],
                 "durationSeconds": 7200, "justification": "incident 42",
                 "requester": {"user": "bob@example.test", "groups": ["team-b"]}},
        "status": {"phase": phase, "approvalsRequired": 1, "approvals": [],
                   "expiresAt": "2026-12-08T11:55:00Z", **status},
    }  # fmt: skip


# -- --for ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("90s", 90), ("1m", 60), ("1.5h", 5400),
     (" 4h ", 14400), ("720h", 2592000)],
)  # fmt: skip
def test_for_is_a_go_duration(text: str, seconds: int) -> None:
    assert flags.duration_seconds(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "request needs --for DURATION"),
        ("", "request needs --for DURATION"),
        ("2", 'invalid duration "2": missing unit'),
        ("7200", 'invalid duration "7200": missing unit'),
        ("2x", 'invalid duration "2x"'),
        ("-1h", 'invalid duration "-1h"'),
        ("1h 30m", 'invalid duration "1h 30m"'),
        ("h", 'invalid duration "h"'),
        ("1d", 'invalid duration "1d"'),
        ("59s", "--for must be at least 1m"),
        ("721h", "--for must be at most 30 days"),
        ("99999999999h", "--for must be at most 30 days"),
    ],
)
def test_for_refusals(text: str | None, says: str) -> None:
    with pytest.raises(UsageError, match=None) as got:
        flags.duration_seconds(text)
    assert says in str(got.value)


# -- namespaces, names, reasons ---------------------------------------------------------------


def test_namespaces_repeated_or_comma_separated_in_order_each_once() -> None:
    assert flags.namespaces_of(["shop,web", "shop", " api "], "deploy") == ["shop", "web", "api"]
    assert flags.namespaces_of([], "read") == []


@pytest.mark.parametrize(
    ("items", "level", "says"),
    [
        (["Shop"], "deploy", "-n: 'Shop' is not a namespace"),
        (["shop,"], "deploy", "-n: '' is not a namespace"),
        (["a" * 64], "deploy", "is not a namespace"),
        (["shop"], "read", "a read request covers ENV"),
        ([",".join(f"n{i}" for i in range(51))], "deploy", "at most 50"),
    ],
)
def test_namespace_refusals(items: list[str], level: str, says: str) -> None:
    with pytest.raises(UsageError) as got:
        flags.namespaces_of(items, level)
    assert says in str(got.value)


@pytest.mark.parametrize("name", ["../x", "X", "", "a/b", "a" * 64, "a\nb", "-a"])
def test_bad_names(name: str) -> None:
    with pytest.raises(UsageError):
        flags.check_name(name)


def test_reasons() -> None:
    assert flags.reason_of(" why ", "approve-request") == "why"
    assert flags.reason_of(None, "request --cancel", optional=True) == ""
    with pytest.raises(UsageError, match="approve-request needs --reason TEXT"):
        flags.reason_of("  ", "approve-request")
    with pytest.raises(UsageError, match="one line"):
        flags.reason_of("a\x1b[2Kb", "deny-request")


def test_new_request_checks_everything() -> None:
    opts = argparse.Namespace(level="deploy", duration="2h", namespaces=["shop"])
    got = flags.new_request(opts, "incident 42")
    assert got == flags.NewRequest("deploy", 7200, "incident 42", ["shop"])


# -- the command lines: one line on stderr, exit 2, nothing sent -----------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["prod", "request"], "error: request needs read or deploy (or --cancel NAME)"),
        (
            ["prod", "request", "admin", "--for", "1h", "--reason", "r"],
            "error: request takes read or deploy, not 'admin'",
        ),
        (["prod", "request", "deploy", "--reason", "r"], "error: request needs --for DURATION"),
        (["prod", "request", "deploy", "--for", "2", "--reason", "r"], "missing unit"),
        (
            ["prod", "request", "deploy", "--for", "2h"],
            "error: request needs --reason TEXT (or SCIPIAN_REASON): why",
        ),
        (
            ["prod", "request", "read", "--for", "2h", "--reason", "r", "-n", "shop"],
            "a read request covers ENV",
        ),
        (
            ["-n", "shop", "prod", "request", "read", "--for", "2h", "--reason", "r"],
            "a read request covers ENV",
        ),
        (["prod", "request", "deploy", "--cancel", NAME], "--cancel NAME takes no deploy"),
        (["prod", "request", "--cancel", NAME, "--wait"], "--cancel NAME takes no --wait"),
        (["prod", "request", "--cancel", "../x"], "is not an access request name"),
        (["prod", "request", "deploy", "--for"], "--for: expected one argument"),
        (
            ["dev,prod", "request", "read", "--for", "1h", "--reason", "r"],
            "request takes one environment",
        ),
        (["requests", "../etc"], "is not an access request name"),
        (["requests", "-o", "name"], "invalid choice: 'name'"),
        (["approve-request", NAME], "error: approve-request needs --reason TEXT"),
        (["deny-request", NAME, "--reason", " "], "error: deny-request needs --reason TEXT"),
        (["revoke-request", "A_B", "--reason", "r"], "is not an access request name"),
        (["approve-request", "--reason", "r"], "the following arguments are required: NAME"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else "",
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, argv: list[str], says: str) -> None:
    ctx, out, err = context(tmp_path)
    assert cli.run(argv, ctx) == 2
    assert out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert says in lines[-1], err.getvalue()
    # argparse's own errors carry their usage lines first; the plugin's are one line.
    assert len(lines) == 1 or lines[0].startswith("usage:"), err.getvalue()


def test_a_malformed_environment_is_the_rfc_line_without_network(tmp_path: Path) -> None:
    ctx, out, err = context(tmp_path)
    argv = ["Not_An_Env", "request", "read", "--for", "1h", "--reason", "r"]
    assert cli.run(argv, ctx) == 1
    assert (out.getvalue(), err.getvalue()) == ("", "Invalid environment referenced.\n")


def test_reason_from_the_environment(tmp_path: Path) -> None:
    """SCIPIAN_REASON stands for --reason: the command gets past its checks to the network
    (port 9: nobody answers; not logged in, so the RFC line and the login hint)."""
    ctx, _, err = context(tmp_path, {"SCIPIAN_REASON": "incident 42"})
    assert cli.run(["prod", "request", "deploy", "--for", "1h"], ctx) == 1
    assert err.getvalue().startswith("Invalid authentication for provided environment.\n")


def test_parse_keeps_level_duration_namespaces() -> None:
    args = cli.parse(
        ["-n", "api", "prod", "request", "deploy", "--for", "1h30m", "-n", "shop,web", "--wait"],
        io.StringIO(),
    )
    assert (args.command, args.env_id, args.level, args.duration) == (
        "request", "prod", "deploy", "1h30m",
    )  # fmt: skip
    assert (args.namespaces, args.wait, args.cancel) == (["api", "shop,web"], True, None)


@pytest.mark.parametrize("name", ["requests", "approve-request", "deny-request", "revoke-request"])
def test_the_commands_are_in_the_one_list(name: str) -> None:
    args = cli.parse([name, NAME, "--reason", "r"] if name != "requests" else [name], io.StringIO())
    assert args.command == name


# -- printers ---------------------------------------------------------------------------------


def test_table_has_kubectls_printer_columns() -> None:
    pending = request()
    bare = {"metadata": {"name": "dev-read-aaaaa"}, "spec": {"environment": "dev"}}
    text = printers.list_table([pending, bare], now=NOW)
    assert text.splitlines() == [
        "NAME                ENV    LEVEL    REQUESTER          PHASE     EXPIRES                "
        "AGE",
        "prod-deploy-x7k2p   prod   deploy   bob@example.test   Pending   2026-12-08T11:55:00Z   "
        "5m",
        "dev-read-aaaaa      dev    <none>   <none>             <none>    <none>                 "
        "<unknown>",
    ]


def test_wide_adds_namespaces_approvals_reason_escaped() -> None:
    approved = request(
        "Approved",
        approvals=[{"user": "dave@example.test", "justification": "ok", "time": "t"}],
    )
    approved["spec"]["justification"] = "incident\x1b[2J 42"
    read = request(level="read")
    read["spec"].pop("namespaces")
    lines = printers.list_table([approved, read], wide=True, now=NOW).splitlines()
    assert lines[0].split() == [*printers.LIST, "NAMESPACES", "APPROVALS", "REASON"]
    assert lines[1].split()[-4:] == ["shop,web", "1/1", "incident\\x1b[2J", "42"]
    assert lines[2].split()[-4:] == ["<none>", "0/1", "incident", "42"]
    assert "\x1b" not in "".join(lines)


def test_no_items_no_table() -> None:
    assert printers.list_table([]) == ""


@pytest.mark.parametrize(
    ("obj", "line"),
    [
        (request(), f"request {NAME}: Pending, approvals 0/1; expires in 23h"),
        (request("Approved", expiresAt="2026-12-07T13:59:00Z"),
         f"request {NAME}: Approved, window ends in 119m"),
        (request("Denied", decision={"user": "dave@example.test", "justification": "no\nway"}),
         f"request {NAME}: Denied by dave@example.test: no way"),
        (request("Expired", message="nobody decided in 24h"),
         f"request {NAME}: Expired: nobody decided in 24h"),
        (request("Revoked", decision={"user": "x\x1b]52;c;Zm9v\x07"}),
         f"request {NAME}: Revoked by x\\x1b]52;c;Zm9v\\x07"),
    ],
)  # fmt: skip
def test_status_line(obj: dict[str, Any], line: str) -> None:
    assert printers.status_line(obj, NOW) == line


def test_decision_line() -> None:
    approved = request("Approved", approvals=[{"user": "d"}])
    assert decide.decision_line(NAME, "approved", approved) == (
        f"request {NAME}: approved (1 of 1); now Approved"
    )
    assert decide.decision_line(NAME, "revoked", request("Revoked")) == (
        f"request {NAME}: revoked; now Revoked"
    )


# -- --wait ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "code"),
    [("Pending", None), ("", None), ("Approved", 0), ("Denied", 1), ("Expired", 1),
     ("Cancelled", 1), ("Revoked", 1), ("Ended", 1)],
)  # fmt: skip
def test_exit_codes(phase: str, code: int | None) -> None:
    assert wait.exit_code(request(phase)) == code


class Answers:
    """The long poll's answers in order (then what `last` raises)."""

    def __init__(self, answers: list[dict[str, Any]], last: BaseException | None = None) -> None:
        self.answers = answers
        self.last = last
        self.asked: list[str] = []

    def watch(self, name: str, rv: str) -> dict[str, Any]:
        self.asked.append(rv)
        if not self.answers:
            assert self.last is not None
            raise self.last
        return self.answers.pop(0)


def until(start: dict[str, Any], answers: Answers, live: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    _, code = wait.until_decided(
        answers,  # type: ignore[arg-type]
        start,
        wait.Status(out, live),
        clock=lambda: 0.0,
        sleep=lambda _: None,
    )
    return code, out.getvalue()


def test_wait_asks_from_the_last_resource_version_a_line_per_change() -> None:
    one = [{"user": "dave@example.test", "justification": "ok", "time": "t"}]
    answers = Answers([
        request(rv="2"),  # the poll's wait ended unchanged
        request("Approved", rv="3", approvals=one),
    ])  # fmt: skip
    code, text = until(request(rv="1"), answers)
    assert code == 0 and answers.asked == ["1", "2"]
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"request {NAME}: Pending, approvals 0/1")
    assert lines[1].startswith(f"request {NAME}: Approved")


def test_wait_ends_1_on_a_denial() -> None:
    answers = Answers([request("Denied", rv="2", decision={"user": "dave"})])
    code, text = until(request(), answers)
    assert code == 1 and text.splitlines()[-1] == f"request {NAME}: Denied by dave"


def test_wait_live_redraws_one_line_in_place() -> None:
    code, text = until(request(), Answers([request("Approved", rv="2")]), live=True)
    assert code == 0
    assert text.count("\r\x1b[2K") == 2 and text.endswith("\n") and text.count("\n") == 1


def test_ctrl_c_detaches_with_130_and_says_how_to_watch_or_cancel() -> None:
    code, text = until(request(), Answers([], KeyboardInterrupt()))
    assert code == 130
    assert text.splitlines()[-3:] == [
        f"detached: request {NAME} stays until decided",
        f"watch: kubectl scipian requests {NAME}",
        f"cancel: kubectl scipian prod request --cancel {NAME}",
    ]


def test_a_backend_gone_mid_wait_is_1() -> None:
    gone = BackendUnreachable("cannot reach the Scipian backend at https://b (refused)")
    code, text = until(request(), Answers([], gone))
    assert code == 1 and text.splitlines()[-1] == f"watch: kubectl scipian requests {NAME}"


def test_use_lines() -> None:
    assert wait.use_line(request("Approved")) == (
        "use it: kubectl scipian prod kubeconfig --level deploy --reason TEXT --merge"
    )
    assert wait.use_line(request("Approved", level="read")).startswith(
        "use it: kubectl scipian prod get pods"
    )


# -- the refusal hint (change.md §9) ----------------------------------------------------------


def response(status: int, body: object) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body).encode()
    return r


def refusal(body: object) -> errors.AuthError:
    with pytest.raises(errors.AuthError) as got:
        backend.BackendClient("https://b", requests.Session())._answer(response(403, body))
    return got.value


@pytest.mark.parametrize(
    ("body", "requestable", "kind"),
    [
        ({"reason": "Forbidden", "message": "no", "requestable": "read"}, "read",
         errors.AuthError),
        ({"reason": "PromotionRequired", "message": "gated", "requestable": "deploy"}, "deploy",
         errors.PromotionRequired),
        ({"reason": "Forbidden", "message": "no"}, "", errors.AuthError),
        ({"reason": "Forbidden", "requestable": "admin"}, "", errors.AuthError),
        ({"reason": "Forbidden", "requestable": "read\nhint: evil"}, "", errors.AuthError),
        ({"reason": "Forbidden", "requestable": ["read"]}, "", errors.AuthError),
        (["requestable"], "", errors.AuthError),
    ],
)  # fmt: skip
def test_403_carries_requestable_only_as_a_known_word(
    body: object, requestable: str, kind: type[errors.AuthError]
) -> None:
    err = refusal(body)
    assert type(err) is kind and err.requestable == requestable and err.hint == ""


def test_401_never_carries_requestable() -> None:
    with pytest.raises(errors.AuthError) as got:
        backend.BackendClient("https://b", requests.Session())._answer(
            response(401, {"reason": "Unauthorized", "requestable": "read"})
        )
    assert got.value.requestable == ""


def test_the_hint_is_one_line_after_the_rfc_line() -> None:
    err = errors.AuthError("HTTP 403 Forbidden: no")
    err.hint = errors.REQUEST_HINT.format(env="staging", level="read")
    out = io.StringIO()
    assert cli.report(err, out, 0) == 1
    assert out.getvalue() == (
        "Invalid authentication for provided environment.\n"
        "hint: ask for access: kubectl scipian staging request read --for 1h --reason TEXT\n"
    )
