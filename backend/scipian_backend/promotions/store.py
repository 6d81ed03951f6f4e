"""Promotion objects on the management cluster, written with optimistic concurrency.

A status change reads the object, computes the new status (a pure transition) and writes
it with the resourceVersion it read; a 409 (someone else wrote in between) starts again
from a fresh read, so that two requests on one promotion never lose each other's change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.errors import InternalError, ServiceUnavailable
from scipian_backend.kube import json_body, status_of
from scipian_backend.promotions.records import GROUP, PLURAL, VERSION

ATTEMPTS = 10


class NameTaken(Exception):
    """A Promotion of that name exists already."""


class Unchanged(Exception):
    """A transition decided to write nothing; carries the object as read."""

    def __init__(self, promo: dict[str, Any]) -> None:
        super().__init__("unchanged")
        self.promo = promo


Transition = Callable[[dict[str, Any]], dict[str, Any] | None]


class PromotionStore:
    """Promotions; with `plural` and `noun`, any cluster-scoped scipian.io object written the
    same way (accessrequests/store.py uses it for AccessRequests)."""

    def __init__(
        self,
        mgmt: client.ApiClient,
        timeout: float = 10.0,
        plural: str = PLURAL,
        noun: str = "promotion",
    ) -> None:
        self._api = client.CustomObjectsApi(mgmt)
        self._timeout = timeout
        self._plural = plural
        self._noun = noun

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            return json_body(
                self._api.create_cluster_custom_object(
                    GROUP, VERSION, self._plural, obj, _request_timeout=self._timeout,
                    _preload_content=False,
                )
            )  # fmt: skip
        except ApiException as e:
            if status_of(e) == 409:
                raise NameTaken(obj["metadata"]["name"]) from None
            raise _unavailable(e) from None
        except (HTTPError, ValueError) as e:
            raise _unavailable(e) from None

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return json_body(
                self._api.get_cluster_custom_object(
                    GROUP, VERSION, self._plural, name, _request_timeout=self._timeout,
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
        try:
            doc = json_body(
                self._api.list_cluster_custom_object(
                    GROUP,
                    VERSION,
                    self._plural,
                    _request_timeout=self._timeout,
                    _preload_content=False,
                )
            )
        except (ApiException, HTTPError, ValueError) as e:
            raise _unavailable(e) from None
        items = [i for i in doc.get("items") or [] if isinstance(i, dict)]
        return sorted(
            items,
            key=lambda o: (
                str(o.get("metadata", {}).get("creationTimestamp", "")),
                str(o.get("metadata", {}).get("name", "")),
            ),
        )

    def delete(self, name: str) -> None:
        """Deletes a Promotion nothing ran for yet (a creation that failed half way): its
        finalizer is dropped first, as no step identity exists to remove."""
        patch = {"metadata": {"finalizers": None}}
        try:
            resp = self._api.patch_cluster_custom_object(
                GROUP, VERSION, self._plural, name, patch, _request_timeout=self._timeout,
                _preload_content=False,
            )  # fmt: skip
            resp.drain_conn()
            resp = self._api.delete_cluster_custom_object(
                GROUP, VERSION, self._plural, name, _request_timeout=self._timeout,
                _preload_content=False,
            )  # fmt: skip
            resp.drain_conn()
        except ApiException as e:
            if status_of(e) != 404:
                raise _unavailable(e) from None
        except HTTPError as e:
            raise _unavailable(e) from None

    def wait_change(self, name: str, resource_version: str, seconds: float) -> None:
        """Returns at the first change of the Promotion after `resource_version` (a watch
        on mgmt from that version), or after `seconds`; the caller reads it again. A
        version mgmt no longer has (410) returns at once: the object has changed since.
        Any event ends the wait (an ERROR one too): the caller reads the object as it is."""
        try:
            resp = self._api.list_cluster_custom_object(
                GROUP,
                VERSION,
                self._plural,
                field_selector=f"metadata.name={name}",
                resource_version=resource_version,
                allow_watch_bookmarks=False,
                watch=True,
                timeout_seconds=max(1, int(seconds)),
                _request_timeout=(self._timeout, seconds + self._timeout),
                _preload_content=False,
            )
        except ApiException as e:
            if status_of(e) in (400, 410):
                return
            raise _unavailable(e) from None
        except HTTPError as e:
            raise _unavailable(e) from None
        try:
            resp.read(1)  # the first byte of the first event (or of the end: a timeout)
        except (HTTPError, OSError):
            pass  # a read timeout or a cut stream: the object as it is now
        finally:
            resp.close()  # the rest of the stream is not wanted: never back to the pool

    def update_status(
        self, name: str, transition: Transition
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(before, after): `transition` maps the object read to its new status (None:
        nothing to write; it may raise to refuse). Retried from a fresh read on 409."""
        for _ in range(ATTEMPTS):
            promo = self.get(name)
            if promo is None:
                raise InternalError(f"{self._noun} {name} disappeared")
            status = transition(promo)
            if status is None or status == promo.get("status"):
                return promo, promo  # nothing changed: no write (verify is polled)
            body = dict(promo, status=status)
            try:
                after = json_body(
                    self._api.replace_cluster_custom_object_status(
                        GROUP, VERSION, self._plural, name, body, _request_timeout=self._timeout,
                        _preload_content=False,
                    )
                )  # fmt: skip
            except ApiException as e:
                if status_of(e) == 409:
                    continue
                raise _unavailable(e) from None
            except (HTTPError, ValueError) as e:
                raise _unavailable(e) from None
            return promo, after
        raise ServiceUnavailable(f"{self._noun} {name}: too many concurrent changes, try again")


def _unavailable(e: BaseException) -> ServiceUnavailable:
    status = status_of(e)
    return ServiceUnavailable(
        "management cluster unavailable" + (f" (HTTP {status})" if status else "")
    )
