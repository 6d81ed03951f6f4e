"""Writes `status.breakGlass` of an Environment on mgmt (the status subresource only: the
backend may not change an Environment's spec), with optimistic concurrency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.config import GROUP, PLURAL, VERSION
from scipian_backend.errors import NotFound, ServiceUnavailable
from scipian_backend.kube import json_body, status_of

ATTEMPTS = 5
# The Environment as read → its new status.breakGlass (it may raise to refuse).
Transition = Callable[[dict[str, Any]], list[dict[str, Any]]]


class EnvironmentStatus:
    def __init__(self, mgmt: client.ApiClient, timeout: float = 10.0) -> None:
        self._api = client.CustomObjectsApi(mgmt)
        self._timeout = timeout

    def read(self, env_id: str) -> dict[str, Any] | None:
        try:
            return json_body(
                self._api.get_cluster_custom_object(
                    GROUP, VERSION, PLURAL, env_id, _request_timeout=self._timeout,
                    _preload_content=False,
                )
            )  # fmt: skip
        except ApiException as e:
            if status_of(e) == 404:
                return None
            raise _unavailable(e) from None
        except (HTTPError, ValueError) as e:
            raise _unavailable(e) from None

    def list(self) -> list[dict[str, Any]]:
        """Every Environment object (their status included), as read."""
        try:
            doc = json_body(
                self._api.list_cluster_custom_object(
                    GROUP, VERSION, PLURAL, _request_timeout=self._timeout, _preload_content=False
                )
            )
        except (ApiException, HTTPError, ValueError) as e:
            raise _unavailable(e) from None
        return [o for o in doc.get("items") or [] if isinstance(o, dict)]

    def update(self, env_id: str, transition: Transition) -> dict[str, Any]:
        """Writes transition(object) as status.breakGlass at the object's resourceVersion;
        retried from a fresh read on a conflict. Returns the object written."""
        for _ in range(ATTEMPTS):
            obj = self.read(env_id)
            if obj is None:
                raise NotFound(f"no environment {env_id}")
            found = obj.get("status")
            status: dict[str, Any] = found if isinstance(found, dict) else {}
            body = dict(obj, status=dict(status, breakGlass=transition(obj)))
            try:
                return json_body(
                    self._api.replace_cluster_custom_object_status(
                        GROUP, VERSION, PLURAL, env_id, body, _request_timeout=self._timeout,
                        _preload_content=False,
                    )
                )  # fmt: skip
            except ApiException as e:
                if status_of(e) == 409:
                    continue
                raise _unavailable(e) from None
            except (HTTPError, ValueError) as e:
                raise _unavailable(e) from None
        raise ServiceUnavailable(f"environment {env_id}: too many concurrent changes, try again")


def _unavailable(e: BaseException) -> ServiceUnavailable:
    status = status_of(e)
    return ServiceUnavailable(
        "management cluster unavailable" + (f" (HTTP {status})" if status else "")
    )
