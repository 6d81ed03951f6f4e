"""An access request's window and its end (change.md §9, §11), against the real stack.

The stack's backends run worker rooms: the kind "access" wakes an Approved request at its
window's end, deletes its sessions and identity, and only then writes Ended. A credential
issued inside a 60-second window (the shortest) is refused by the target soon after the
end; one asked one second after it is refused by the backend. The waits are bounded, not
timing assertions; the measured times are printed as `figure:` lines.

The module registers `t-kwin` on the dev cluster (credentials_world.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import Stack
from tests.e2e.accessrequests.credentials_world import (
    Issued,
    approved,
    ask,
    cancel_all,
    figure,
    issue,
    module_env,
    sessions_of,
    window_end,
)
from tests.e2e.promotions.world import Api, Logins
from tests.helpers import wait_for

pytestmark = pytest.mark.stack

ENV = "t-kwin"
NS = "t-kwin-a"
WINDOW = 60  # the shortest window an AccessRequest may ask for
BOUND = 45.0  # past the window's end: a bound on waiting, not a timing assertion


@pytest.fixture(scope="module")
def env(stack: Stack) -> Iterator[str]:
    yield from module_env(stack, ENV, (NS,))


@pytest.fixture(scope="module")
def logins(stack: Stack) -> Logins:
    return Logins(stack.env["STACK_IDP_ISSUER"], stack.env["STACK_PASSWORD"])


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    return Api(stack.env["SCIPIAN_BACKEND_URL"])


def seconds_after(end: datetime) -> float:
    return (datetime.now(timezone.utc) - end).total_seconds()


def test_the_window_end_stops_the_credential_and_issuance(
    stack: Stack, api: Api, logins: Logins, env: str, tmp_path: Path
) -> None:
    mallory = logins.token("mallory")
    obj = ask(api, mallory, env, "read", WINDOW)
    name = obj["metadata"]["name"]
    try:
        obj = approved(api, logins, name)
        end = window_end(obj)
        answer = issue(api, mallory, env)
        assert answer.status_code == 200, answer.text
        issued = Issued(stack, answer.json(), tmp_path / "window.kubeconfig")
        assert not issued.refused(NS)
        assert sessions_of(stack, name)
        # The token outlives the window (TokenRequest's 600 s minimum) and the worker ends
        # it: the answer says when, the window's end, so a client fetches again then.
        assert issued.expiration == end

        # until the end, then one second after it
        time.sleep(max(0.0, -seconds_after(end)))
        wait_for("the credential to be refused after the window", lambda: issued.refused(NS), BOUND)
        figure("window end -> credential refused by the target", seconds_after(end))
        time.sleep(max(0.0, 1.0 - seconds_after(end)))
        late = issue(api, mallory, env)
        assert late.status_code == 403, late.text
        wait_for("the token to fail after the window", lambda: not issued.authenticates(), BOUND)
        figure("window end -> token rejected (401)", seconds_after(end))
        assert sessions_of(stack, name) == []

        def phase() -> str:
            return stack.kubectl(
                "mgmt", "get", "accessrequests.scipian.io", name, "-o", "jsonpath={.status.phase}"
            ).stdout

        wait_for("the request to end", lambda: phase() == "Ended", timeout=BOUND)
        assert issue(api, mallory, env).status_code == 403
    finally:
        cancel_all(stack, api, mallory, env)
