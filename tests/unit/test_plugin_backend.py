"""The backend client's pure parts: answer -> exception mapping, timestamps, Retry-After."""

from __future__ import annotations

import json

import pytest
import requests

from kubectl_scipian import errors
from kubectl_scipian.backend import client as backend
from kubectl_scipian.support.timefmt import duration, parse_timestamp, rfc3339, until

URL = "https://scipian.example"


def response(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body).encode() if body is not None else b"<html>oops</html>"
    r.headers.update(headers or {})
    return r


def answer(r: requests.Response) -> object:
    return backend.BackendClient(URL, requests.Session())._answer(r)


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (401, "Unauthorized", errors.AuthError),
        (403, "Forbidden", errors.AuthError),
        (403, "PromotionRequired", errors.PromotionRequired),
        (404, "NotFound", errors.EnvNotFound),
        (400, "BadRequest", errors.BackendError),
        (500, "InternalError", errors.BackendError),
        (503, "ServiceUnavailable", errors.BackendError),
    ],
)
def test_status_mapping(status: int, reason: str, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        answer(response(status, {"reason": reason, "message": "m"}))
    assert type(raised.value) is error


def test_rfc_messages_and_detail() -> None:
    with pytest.raises(errors.AuthError) as auth:
        answer(response(403, {"reason": "Forbidden", "message": "no"}))
    assert str(auth.value) == "Invalid authentication for provided environment."
    assert auth.value.detail == "HTTP 403 Forbidden: no"
    with pytest.raises(errors.EnvNotFound) as env:
        answer(response(404, {"reason": "NotFound", "message": "no such"}))
    assert str(env.value) == "Invalid environment referenced."


def test_server_errors_name_the_backend_and_non_json_404_is_not_an_env_error() -> None:
    with pytest.raises(errors.BackendError) as failed:
        answer(response(503, {"reason": "ServiceUnavailable", "message": "cluster down"}))
    assert str(failed.value) == (
        f"the Scipian backend at {URL} failed: HTTP 503 ServiceUnavailable: cluster down"
    )
    with pytest.raises(errors.BackendError) as wrong_url:
        answer(response(404))  # a proxy's page, not the backend's NotFound
    assert type(wrong_url.value) is errors.BackendError


def test_long_messages_are_truncated() -> None:
    with pytest.raises(errors.BackendError) as failed:
        answer(response(500, {"reason": "InternalError", "message": "x" * 5000}))
    assert len(str(failed.value)) < 300


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        ("2026-11-24T10:15:00Z", 1795515300.0),
        ("2026-11-24T11:15:00+01:00", 1795515300.0),
        ("2026-11-24T10:15:00", 1795515300.0),
    ],
)
def test_parse_timestamp(value: str, epoch: float) -> None:
    assert parse_timestamp(value) == epoch
    assert rfc3339(epoch) == "2026-11-24T10:15:00Z"


@pytest.mark.parametrize(
    ("header", "delay"), [("3", 3.0), ("junk", 1.0), ("-5", 0.0), ("999", 30.0)]
)
def test_retry_after(header: str, delay: float) -> None:
    assert backend._retry_after(response(429, {}, {"Retry-After": header})) == delay


def test_human_times() -> None:
    assert duration(59) == "59s"
    assert duration(900) == "15m"
    assert duration(3 * 3600 + 120) == "3h2m"
    assert until(100.0, 200.0).startswith("expired at ")
    assert until(1000.0, 100.0).endswith("15m left")
