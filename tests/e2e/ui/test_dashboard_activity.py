"""The Activity page under a flood of Events on an environment its reader may not see
(security review M8): the page asks per environment the reader may see, then keeps the
newest, so the flood hides nothing.

The Events are the test's own, written to mgmt's Events namespace as the backend writes
them (kind Environment): a few on `dev` (alice's) and 300 newer ones on an environment id
of the test's own that nobody may see. They are dated in the future so that no other
test's Events are newer, and deleted at the end.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Stack
from tests.e2e.ui.conftest import sign_in_http

pytestmark = pytest.mark.stack
FLOOD = 300  # more than the 200 the page used to take from the whole namespace
CHUNKS = 4


def _event(env_id: str, message: str, when: datetime, tag: str) -> dict[str, object]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{env_id}.{uuid.uuid4().hex[:16]}",
            "namespace": "default",
            "labels": {"scipian-test": tag},
        },
        "involvedObject": {
            "apiVersion": "scipian.io/v1alpha1",
            "kind": "Environment",
            "name": env_id,
        },
        "reason": "CredentialsDenied",
        "message": message,
        "type": "Warning",
        "source": {"component": "scipian-backend"},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def test_a_flood_on_another_environment_hides_nothing(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(timezone.utc)
    mine = [f"activity {tag} on dev #{i}" for i in range(3)]
    items = [_event("dev", m, now + timedelta(hours=1), tag) for m in mine]
    items += [
        _event(f"t-flood-{tag}", f"flood {tag} #{i}", now + timedelta(hours=2, seconds=i), tag)
        for i in range(FLOOD)
    ]
    # `create`, in CHUNKS parallel kubectl runs: one POST per Event (apply would GET each
    # first and took a minute for the flood).
    docs = [{"apiVersion": "v1", "kind": "List", "items": items[i::CHUNKS]} for i in range(CHUNKS)]
    try:
        with ThreadPoolExecutor(CHUNKS) as pool:  # stack.kubectl raises on a failed create
            list(
                pool.map(
                    lambda d: stack.kubectl("mgmt", "create", "-f", "-", input=json.dumps(d)),
                    docs,
                )
            )
        base = stack.env["SCIPIAN_BACKEND_URL"]
        alice, _ = sign_in_http(stack, base, "alice")
        page = alice.get(f"{base}/ui/activity", timeout=30)
        assert page.status_code == 200
        for m in mine:
            assert m in page.text
        assert f"flood {tag}" not in page.text and f"t-flood-{tag}" not in page.text
    finally:
        # One deletecollection: `kubectl delete -l` deletes and waits for each (a minute).
        selector = f"labelSelector=scipian-test%3D{tag}"
        stack.kubectl(
            "mgmt", "delete", "--raw", f"/api/v1/namespaces/default/events?{selector}",
            check=False,
        )  # fmt: skip
        left = stack.kubectl("mgmt", "get", "events", "-n", "default", "-l", f"scipian-test={tag}",
                             "-o", "name")  # fmt: skip
        assert left.stdout == ""
