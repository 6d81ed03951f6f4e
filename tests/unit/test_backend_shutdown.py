"""SIGTERM as a balancer needs it (backend/scipian_backend/http/shutdown.py): unready first,
then the server's own graceful stop; the flags' bounds."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import uvicorn

from scipian_backend.__main__ import main
from scipian_backend.http.shutdown import DrainingServer


def server(unready: float) -> tuple[DrainingServer, threading.Event]:
    flag = threading.Event()

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    return DrainingServer(uvicorn.Config(app), unready, flag.set), flag


def until(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.01)
    return False


def test_sigterm_marks_unready_and_stops_listening_only_after_the_wait() -> None:
    s, unready = server(0.3)
    s.handle_exit(signal.SIGTERM, None)
    assert unready.is_set()
    assert not s.should_exit  # still listening: the balancer's checks see /readyz fail
    assert until(lambda: s.should_exit)
    assert not s.force_exit


def test_a_second_sigterm_skips_the_wait() -> None:
    s, unready = server(60)
    s.handle_exit(signal.SIGTERM, None)
    s.handle_exit(signal.SIGTERM, None)
    assert unready.is_set() and s.should_exit


def test_sigint_stops_at_once_without_the_wait() -> None:
    s, unready = server(60)
    s.handle_exit(signal.SIGINT, None)
    assert s.should_exit
    assert not unready.is_set()


@pytest.mark.parametrize("flag", ["--shutdown-unready-seconds=301", "--shutdown-drain-seconds=-1"])
def test_out_of_range_shutdown_flags_are_one_line_and_exit_2(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--issuer=https://issuer.example", flag]) == 2
    err = capsys.readouterr().err
    name = flag.split("=")[0]
    assert err == f"scipian-backend: {name} must be between 0 and 300 seconds\n"
