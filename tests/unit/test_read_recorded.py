"""Every recorded parity case, replayed: the read commands must print what kubectl printed.

The apiserver's answers and kubectl's output come from tests/data/read/ (recorded from the
stack by `make recordings`, see tests/read_recordings.py); the describers, printers and
discovery run for real on them, at the recorded moment. The e2e parity suite stays the
final check against live clusters.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests import read_recordings
from tests.read_recordings import Replayer, client_swapped, clock_at, load, source_blocks

# The server the replayed kubeconfig names; no request leaves the process.
KUBECONFIG: dict[str, Any] = {
    "clusters": [{"name": "dev", "cluster": {"server": "https://apiserver.invalid:6443"}}],
    "users": [{"name": "viewer", "user": {}}],
    "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "viewer"}}],
    "current-context": "dev",
}

CASES = [
    pytest.param(case, id=f"{suite}: {case['id']}")
    for suite in read_recordings.SUITES
    if (read_recordings.DATA / f"{suite}.json").exists()
    for case in load(suite)
]


def replay(case: dict[str, Any], cache_dir: Path) -> tuple[int, str, str]:
    from kubectl_scipian.read import run

    stdout, stderr = io.BytesIO(), io.StringIO()
    exchanges = case["exchanges"]
    with (
        clock_at(datetime.fromisoformat(case["now"])),
        client_swapped(lambda _real: Replayer(exchanges), wrap_real=False),
    ):
        rc = run(
            case["verb"],
            list(case["args"]),
            KUBECONFIG,
            env_id="dev",
            cache_dir=cache_dir,
            stdout=stdout,
            stderr=stderr,
        )
    return rc, stdout.getvalue().decode("utf-8", "surrogateescape"), stderr.getvalue()


def test_every_suite_is_recorded() -> None:
    suites = {p.stem for p in read_recordings.DATA.glob("*.json")}
    assert suites == set(read_recordings.SUITES)


@pytest.mark.parametrize("case", CASES)
def test_recorded_case(case: dict[str, Any], tmp_path: Path) -> None:
    rc, out, err = replay(case, tmp_path)
    want = case["kubectl"]
    assert err == want["err"]
    if case["compare"] == "source-blocks":
        # kubectl reads several log sources from a Go map: their order varies, each
        # source's lines stay whole and in order.
        assert source_blocks(out) == source_blocks(want["out"])
    else:
        assert out == want["out"]
    assert rc == want["rc"]


def test_recordings_blank_tokens_at_their_length_and_hold_none() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    wrapped = base64.b64encode(token.encode()).decode()
    url = "https://127.0.0.1:34567/x"
    doc = {"data": {"token": wrapped}, "note": f"Bearer {token}", "url": url}
    got = read_recordings._scrub(doc, read_recordings._same_length_address(url))
    assert got["note"] == "Bearer " + "x" * len(token)
    assert base64.b64decode(got["data"]["token"]).decode() == "x" * len(token)
    assert got["url"] == "https://127.0.0.1:66666/x"
    for path in read_recordings.DATA.glob("*.json"):
        assert not read_recordings.JWT.search(path.read_text()), path
