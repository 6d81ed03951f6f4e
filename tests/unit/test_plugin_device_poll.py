"""The device grant's polling rules (RFC 8628 3.5), on a scripted sequence of answers.

The stack's provider never answers slow_down, so that branch is pinned down here.
"""

from __future__ import annotations

import pytest

from kubectl_scipian.errors import LoginError
from kubectl_scipian.oidc.client import OAuthError, Tokens
from kubectl_scipian.oidc.flows import poll_device

TOKENS = Tokens("id", "refresh", {"exp": 1, "sub": "s"})


class Script:
    """Answers polls from a list (an OAuth error code, or None for tokens); fakes a clock."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.sleeps: list[float] = []
        self.now = 0.0

    def poll(self) -> Tokens:
        answer = self.answers.pop(0)
        if answer is None:
            return TOKENS
        raise OAuthError(400, answer)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def run(script: Script, interval: float = 2, timeout: float = 100) -> Tokens:
    return poll_device(
        script.poll, interval=interval, timeout=timeout, sleep=script.sleep, clock=script.clock
    )


def test_waits_the_interval_before_every_poll() -> None:
    script = Script("authorization_pending", "authorization_pending", None)
    assert run(script) is TOKENS
    assert script.sleeps == [2, 2, 2]


def test_slow_down_adds_five_seconds_for_good() -> None:
    script = Script("slow_down", "authorization_pending", "slow_down", None)
    run(script)
    assert script.sleeps == [2, 7, 7, 12]


def test_interval_below_one_second_is_raised_to_one() -> None:
    script = Script(None)
    run(script, interval=0)
    assert script.sleeps == [1]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("access_denied", "denied"),
        ("expired_token", "expired"),
        ("invalid_grant", "login failed: invalid_grant"),
    ],
)
def test_final_errors(error: str, message: str) -> None:
    with pytest.raises(LoginError, match=message):
        run(Script("authorization_pending", error))


def test_gives_up_at_the_timeout() -> None:
    script = Script(*["authorization_pending"] * 100)
    with pytest.raises(LoginError, match="timed out after 10s"):
        run(script, interval=3, timeout=10)
    assert sum(script.sleeps) <= 10
