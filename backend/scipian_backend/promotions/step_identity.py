"""The backend's own credential for one promotion step (change.md §5, §10).

A ServiceAccount per (promotion, step) in the target's sessions namespace, bound by a
RoleBinding to the Environment's deploy role in the promotion's namespace only, a session
Secret and a short token bound to it: the identity of source `promotion:NAME:ENV`, minted
by minting/minter.py (the one minting path), labelled `scipian.io/managed=true` so that the
broker may delete it. Its kubeconfig is a private file in the helm run's workspace and
nowhere else. The identity, its binding and its session Secret are deleted when the step
leaves Deploying (and again, idempotently, when the promotion finishes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Protocol

from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.config import MIN_TTL
from scipian_backend.environments.store import Environment
from scipian_backend.identity import names
from scipian_backend.minting.identities import Identities
from scipian_backend.minting.kubeconfig import kubeconfig_text
from scipian_backend.minting.minter import Minter

log = logging.getLogger("scipian.executor")

# The identity's user: the backend itself, never a person (a person's revoke or sweep,
# keyed by their user hash, must not reach the executor's credential, nor the reverse).
EXECUTOR_USER = "system:scipian:executor"
TTL_MARGIN = 120  # seconds the token outlives the step's timeout (rollback, then cleanup)


class Writable(Protocol):
    def write(self, name: str, data: bytes) -> str: ...


def source(promotion: str, env_id: str) -> str:
    return f"promotion:{promotion}:{env_id}"


def account(promotion: str, env_id: str) -> str:
    return names.IdentityKey(env_id, "deploy", EXECUTOR_USER, source(promotion, env_id)).account


def token_ttl(timeout_seconds: int) -> int:
    """At least the TokenRequest minimum; the step's timeout and a margin beyond it."""
    return max(MIN_TTL, timeout_seconds + TTL_MARGIN)


class StepIdentities:
    def __init__(self, minter: Minter, sessions_namespace: str, timeout: float = 10.0) -> None:
        self._minter = minter
        self._ns = sessions_namespace
        self._timeout = timeout

    @contextlib.contextmanager
    def kubeconfig(
        self, env: Environment, promotion: str, namespace: str, ws: Writable, ttl: int
    ) -> Iterator[str]:
        """The path of a kubeconfig for the step's identity, written in `ws`; the identity
        is deleted when the block ends, however it ends."""
        try:
            issued = self._minter.issue_step(
                env, EXECUTOR_USER, source(promotion, env.id), namespace, ttl
            )
            path = ws.write(
                "kubeconfig", kubeconfig_text(env.id, issued.endpoint, issued.token).encode()
            )
            yield path
        finally:
            self.delete(env, promotion)

    def delete(self, env: Environment, promotion: str) -> bool:
        """Deletes the step's ServiceAccount, binding and session Secrets (every token of
        it stops at once). False when the target could not be reached (retried later)."""
        try:
            target = self._minter.target(env)
            Identities(target.api, self._ns, self._timeout).delete(account(promotion, env.id))
            return True
        except (ApiException, HTTPError, ValueError, OSError) as e:
            log.warning(
                "promotion %s: step identity on %s not deleted yet (%s)",
                promotion,
                env.id,
                type(e).__name__,
            )
            return False
        except Exception as e:  # an ApiError of the target lookup (broker Secret gone)
            log.warning("promotion %s: step identity on %s: %s", promotion, env.id, e)
            return False
