"""The per-user token bucket (scipian_backend/ratelimit.py), on a fake clock."""

from __future__ import annotations

import pytest

from scipian_backend.errors import ConfigError
from scipian_backend.metrics import Metrics
from scipian_backend.ratelimit import (
    Rate,
    RateLimiter,
    TooManyRequests,
    limited_counter,
    parse_rate,
)
from tests.prometheus_text import sample


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "burst", "rate"),
    [
        ("30/60s", None, Rate(30, 60.0, 30)),
        ("30/60", None, Rate(30, 60.0, 30)),
        ("600/1m", 50, Rate(600, 60.0, 50)),
        ("5/h", None, Rate(5, 3600.0, 5)),
        (" 2 / 0.5s ", None, Rate(2, 0.5, 2)),
    ],
)
def test_parse_rate(text: str, burst: int | None, rate: Rate) -> None:
    assert parse_rate(text, burst) == rate


@pytest.mark.parametrize("text", ["0", "off", ""])
def test_zero_disables(text: str) -> None:
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["abc", "-1/60s", "0/60s", "30/0s", "30/60d", "30//60"])
def test_bad_rates_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_rate(text)


def test_bad_burst_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_rate("30/60s", 0)


def test_burst_then_refill_with_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(2, 10.0, 3), clock=clock)  # one token per 5 s
    for _ in range(3):
        limiter.admit("alice")
    with pytest.raises(TooManyRequests) as err:
        limiter.admit("alice")
    assert err.value.status == 429 and err.value.reason == "TooManyRequests"
    assert err.value.retry_after == 5
    assert err.value.headers == {"Retry-After": "5"}
    limiter.admit("bob")  # buckets are per user
    clock.now += 2.0
    with pytest.raises(TooManyRequests) as err:
        limiter.admit("alice")
    assert err.value.retry_after == 3  # ceil(5 - 2)
    clock.now += 3.0
    limiter.admit("alice")
    with pytest.raises(TooManyRequests):
        limiter.admit("alice")


def test_refill_never_exceeds_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 1.0, 2), clock=clock)
    clock.now += 3600
    limiter.admit("a")
    limiter.admit("a")
    with pytest.raises(TooManyRequests):
        limiter.admit("a")


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1000, 1.0, 1), clock=clock)
    limiter.admit("a")
    with pytest.raises(TooManyRequests) as err:
        limiter.admit("a")
    assert err.value.retry_after == 1


def test_bucket_table_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(1, 1.0, 1), clock=clock, max_buckets=10)
    for i in range(100):
        limiter.admit(f"user{i}")
    assert len(limiter._buckets) <= 10
    # The newest bucket survives pruning: user99 is still throttled.
    with pytest.raises(TooManyRequests):
        limiter.admit("user99")


def test_rejections_are_counted() -> None:
    metrics = Metrics()
    limiter = RateLimiter(Rate(1, 60.0, 1), on_limited=limited_counter(metrics))
    limiter.admit("a")
    for _ in range(3):
        with pytest.raises(TooManyRequests):
            limiter.admit("a")
    assert sample(metrics.render(), "scipian_denials_total", reason="rate_limited") == 3


def test_default_admits_the_suites_and_the_benchmarks_loads() -> None:
    """The default (600/60s, burst 600) must not throttle one user's 50 concurrent
    issuances (tests/e2e/test_backend_sessions.py) plus the benchmark's 1x30 + 8x10 + 32x5
    (bench/run.py) on the stack's backend."""
    from scipian_backend.config import Settings
    from scipian_backend.ratelimit import DEFAULT_RATE

    assert Settings(issuer="https://i.example", client_id="c").rate_limit == DEFAULT_RATE
    rate = parse_rate(DEFAULT_RATE)
    assert rate is not None and rate.burst >= 50 + 30 + 80 + 160
