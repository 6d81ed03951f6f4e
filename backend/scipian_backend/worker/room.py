"""The worker room: one per replica; the only loop that claims work or runs periodic tasks.

Threads: a watcher per kind (watch.py) fills a cache of objects and wakes their keys; the
scheduler pops due keys, asks the kind whether it wants a turn, and hands it to a bounded
pool; a pool thread takes the object's execution Lease (leases.py), reads the object
afresh and runs the turn; the renewer renews every held Lease every `renew_seconds` and
declares a claim lost (Claim.lose) once it could not renew for `lost_after_seconds`, or at
once when the Lease was deleted or taken; the periodic thread holds the `scipian-worker`
Lease and runs the periodic tasks on one replica at a time, recording each task's last run
on that Lease so that a new holder keeps the rhythm.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from scipian_backend.kube import json_body, status_of
from scipian_backend.metrics import Metrics
from scipian_backend.worker.claims import Claim, WorkKind
from scipian_backend.worker.leases import (
    WORK_ANNOTATION,
    Gone,
    Held,
    LeaseClient,
    Refused,
    lease_name,
    parse_time,
    stamp,
)
from scipian_backend.worker.wakeups import WakeQueue, backoff
from scipian_backend.worker.watch import Watcher

log = logging.getLogger("scipian.worker")
PERIODIC_LEASE = "scipian-worker"
LAST_RUN = "periodic.scipian.io/"  # + task name: when it last ran (on the periodic Lease)
TASK_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SHORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")
BUSY_RETRY = 1.0  # seconds before a due key waiting for a free turn thread is looked at again
MAX_WAKE = 86400.0  # a turn's "next turn in" is capped (the resync looks sooner anyway)
Key = tuple[str, str]  # (kind short name, object name)


@dataclass
class _Hold:
    """A Lease held: a claim's (claim set) or the periodic one (claim None)."""

    held: Held
    claim: Claim | None
    last_ok: float
    last_try: float
    failing: bool = False
    done: bool = False  # released or lost: the renewer leaves it alone
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Task:
    every: float
    fn: Callable[[datetime], None]
    last: datetime | None = None


class WorkerRoom:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        replica: str,
        *,
        lease_seconds: int = 30,
        renew_seconds: float = 10.0,
        lost_after_seconds: float = 20.0,
        threads: int = 4,
        stop_seconds: float = 10.0,
        resync_seconds: float = 300.0,
        selector: str = "",
        periodic_lease: str = PERIODIC_LEASE,
        metrics: Metrics | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not 0 < renew_seconds < lost_after_seconds < lease_seconds:
            raise ValueError("need 0 < renew seconds < lost-after seconds < lease seconds")
        self.replica = replica
        self._api = api
        # A renewal that hangs must not outlive the time left before the claim is lost.
        self._leases = LeaseClient(
            api, namespace, replica, timeout=max(1.0, min(timeout, renew_seconds / 2))
        )
        self._objects = client.CustomObjectsApi(api)
        self._lease_seconds = int(lease_seconds)
        self._renew = float(renew_seconds)
        self._lost_after = float(lost_after_seconds)
        self._stop_seconds = float(stop_seconds)
        self._resync = float(resync_seconds)
        self._selector = selector
        self._periodic_lease = periodic_lease
        self._metrics = metrics
        self._timeout = timeout
        self._threads = threads

        self._cond = threading.Condition()
        self._kinds: dict[str, WorkKind] = {}
        self._cache: dict[Key, dict[str, Any]] = {}
        self._queue: WakeQueue[Key] = WakeQueue()
        self._running: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        # Objects whose Lease another replica holds, until when (monotonic): their changes
        # are that replica's to act on; this one looks again once the hold would expire.
        self._elsewhere: dict[Key, float] = {}
        self._holds: dict[Key, _Hold] = {}
        self._free = threads
        self._tasks: dict[str, _Task] = {}
        self._periodic: _Hold | None = None

        self._stopping = threading.Event()  # no new work; turns see it via Claim.stopping
        self._closed = threading.Event()  # the renewer and the periodic thread end
        self._pool = ThreadPoolExecutor(threads, "scipian-turn")
        self._watchers: dict[str, Watcher] = {}
        self._started = False
        self._loops: list[threading.Thread] = []

    # The interface (change.md §5; the contract in the v2 brief).

    def add_kind(self, kind: WorkKind) -> None:
        if not SHORT_NAME.fullmatch(kind.short):
            raise ValueError(f"a work kind's short name must be a DNS label: {kind.short!r}")
        with self._cond:
            if kind.short in self._kinds:
                raise ValueError(f"work kind {kind.short} is already registered")
            self._kinds[kind.short] = kind
            started = self._started
        if started:
            self._watch(kind)

    def add_periodic(self, name: str, every_seconds: float, fn: Callable[[datetime], None]) -> None:
        if not TASK_NAME.fullmatch(name) or len(name) > 63:
            raise ValueError(f"a periodic task's name must be a DNS label: {name!r}")
        if every_seconds <= 0:
            raise ValueError("a periodic task's interval must be positive")
        with self._cond:
            if name in self._tasks:
                raise ValueError(f"periodic task {name} is already registered")
            self._tasks[name] = _Task(float(every_seconds), fn)

    def start(self) -> None:
        with self._cond:
            if self._started:
                return
            self._started = True
            kinds = list(self._kinds.values())
        for target, name in (
            (self._schedule_loop, "scipian-worker-scheduler"),
            (self._renew_loop, "scipian-worker-renewer"),
            (self._periodic_loop, "scipian-worker-periodic"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._loops.append(t)
        for kind in kinds:
            self._watch(kind)
        log.info("worker: replica %s started (%d kinds)", self.replica, len(kinds))

    def stop(self) -> None:
        """Stops taking work; gives running turns `stop_seconds` to end (they see
        Claim.stopping), then declares the claims of those still running lost (their
        on_lost callbacks stop them); releases the Leases of ended turns and the periodic
        one. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for w in list(self._watchers.values()):
            w.close()
        with self._cond:
            self._cond.notify_all()
            end = time.monotonic() + self._stop_seconds
            while self._running and time.monotonic() < end:
                self._cond.wait(min(0.1, max(0.0, end - time.monotonic())))
            left = [self._holds[k] for k in self._running if k in self._holds]
        for hold in left:
            self._lose(hold, "the replica is stopping")
        with self._cond:
            end = time.monotonic() + 5.0
            while self._running and time.monotonic() < end:
                self._cond.wait(0.1)
        # A periodic task still running keeps the Lease until it ends (or the Lease
        # expires): released earlier, another replica would run beside it.
        for t in self._periodic_threads():
            t.join(timeout=self._stop_seconds)
        periodic, self._periodic = self._periodic, None
        if periodic is not None and not any(t.is_alive() for t in self._periodic_threads()):
            self._release(periodic, keep=True)  # its last-run notes stay for the next
        self._closed.set()
        self._pool.shutdown(wait=False)
        for t in self._loops:
            t.join(timeout=self._timeout)
        self._set_gauge()
        log.info("worker: replica %s stopped", self.replica)

    def _periodic_threads(self) -> list[threading.Thread]:
        return [t for t in self._loops if t.name == "scipian-worker-periodic"]

    # Introspection (tests, /metrics).

    @property
    def state(self) -> str:
        """`new`, `running` or `stopped`."""
        if self._stopping.is_set():
            return "stopped"
        return "running" if self._started else "new"

    def held(self) -> list[str]:
        """The names of the execution Leases this replica holds now."""
        with self._cond:
            return sorted(h.held.name for h in self._holds.values() if not h.done)

    def holds_periodic(self) -> bool:
        p = self._periodic
        return p is not None and not p.done

    # Watching.

    def _watch(self, kind: WorkKind) -> None:
        w = Watcher(
            self._api,
            kind.group,
            kind.version,
            kind.plural,
            on_list=lambda items: self._on_list(kind.short, items),
            on_event=lambda kind_, obj: self._on_event(kind.short, kind_, obj),
            stop=self._stopping,
            timeout=self._timeout,
            selector=self._selector,
        )
        self._watchers[kind.short] = w
        threading.Thread(target=w.run, name=f"scipian-watch-{kind.short}", daemon=True).start()

    def _on_list(self, short: str, items: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._cond:
            names = {_name(i) for i in items} - {""}
            for key in [k for k in self._cache if k[0] == short and k[1] not in names]:
                self._forget(key)
            for obj in items:
                name = _name(obj)
                if name:
                    self._cache[(short, name)] = obj
                    self._wake((short, name), now)
            self._cond.notify_all()

    def _on_event(self, short: str, kind: str, obj: dict[str, Any]) -> None:
        name = _name(obj)
        if not name:
            return
        key = (short, name)
        with self._cond:
            if kind == "DELETED":
                self._forget(key)
                return
            self._cache[key] = obj
            self._wake(key, time.monotonic())
            self._cond.notify_all()

    def _forget(self, key: Key) -> None:
        """Under the lock: an object that is gone (a turn running on it ends by itself)."""
        self._cache.pop(key, None)
        self._queue.discard(key)
        self._failures.pop(key, None)
        self._elsewhere.pop(key, None)

    def _wake(self, key: Key, now: float) -> None:
        """Under the lock: a change (or a list) asks for a look at `key` now."""
        if key in self._running:
            self._dirty.add(key)
        else:
            self._queue.schedule(key, now)

    # Scheduling.

    def _schedule_loop(self) -> None:
        next_resync = time.monotonic() + self._resync
        with self._cond:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_resync:  # a safety net for a wake-up missed
                    for key in self._cache:
                        self._wake(key, now)
                    next_resync = now + self._resync
                for key in self._queue.pop_due(now):
                    self._consider(key, now)
                wait = self._queue.next_in(now)
                wait = min(wait if wait is not None else self._resync, next_resync - now, 5.0)
                self._cond.wait(max(wait, 0.01))

    def _consider(self, key: Key, now: float) -> None:
        """Under the lock: hands `key` to a turn thread if its kind wants a turn."""
        if key in self._running:
            self._dirty.add(key)
            return
        obj = self._cache.get(key)
        kind = self._kinds.get(key[0])
        if obj is None or kind is None:
            return
        try:
            wanted = kind.wants(obj, _utcnow())
        except Exception as e:  # a kind's bug must not stop the loop
            self._fail(key, now, "wants", e)
            return
        if not wanted:
            return
        until = self._elsewhere.get(key)
        if until is not None and now < until:
            self._queue.schedule(key, until)
            return
        if self._free <= 0:
            self._queue.schedule(key, now + BUSY_RETRY)
            return
        self._free -= 1
        self._running.add(key)
        self._pool.submit(self._work, key, kind)

    def _fail(self, key: Key, now: float, what: str, e: BaseException) -> None:
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = backoff(n)
        log.warning(
            "worker: %s %s %s failed (%s); again in %.0f s",
            key[0],
            key[1],
            what,
            _describe(e),
            delay,
        )
        self._queue.schedule(key, now + delay, replace=True)

    # A turn.

    def _work(self, key: Key, kind: WorkKind) -> None:
        wake: float | None = None
        error: BaseException | None = None
        hold: _Hold | None = None
        refused = False
        try:
            hold, wake = self._claim(key, kind)
            refused = hold is None
            if hold is not None and hold.claim is not None:
                wake = self._turn(key, kind, hold.claim)
        except Exception as e:  # logged by type, retried with backoff
            error = e
        finally:
            if hold is not None:
                with self._cond:
                    self._holds.pop(key, None)
                if hold.claim is not None and not hold.claim.lost.is_set():
                    self._release(hold)
                else:
                    hold.done = True
                self._set_gauge()
            self._finish(key, wake, error, turned=hold is not None, refused=refused)

    def _claim(self, key: Key, kind: WorkKind) -> tuple[_Hold | None, float | None]:
        """The object's Lease, or (None, seconds until its holder's hold ends)."""
        name = lease_name(kind.short, key[1])
        now = _utcnow()
        try:
            held = self._leases.take(
                name,
                self._lease_seconds,
                now,
                {WORK_ANNOTATION: f"{kind.group}/{kind.plural}/{key[1]}"},
            )
        except Refused as r:
            left = (r.until - now).total_seconds() if r.until is not None else 1.0
            return None, min(max(left + 1.0, 1.0), self._lease_seconds + 1.0)
        mono = time.monotonic()
        hold = _Hold(held, Claim(name, self._stopping), last_ok=mono, last_try=mono)
        with self._cond:
            self._holds[key] = hold
        self._set_gauge()
        log.debug("worker: %s claimed %s", self.replica, name)
        return hold, None

    def _turn(self, key: Key, kind: WorkKind, claim: Claim) -> float | None:
        """Reads the object afresh (the cache may be behind the claim) and runs the turn."""
        try:
            obj = json_body(
                self._objects.get_cluster_custom_object(
                    kind.group,
                    kind.version,
                    kind.plural,
                    key[1],
                    _request_timeout=self._timeout,
                    _preload_content=False,
                )
            )
        except ApiException as e:
            if status_of(e) == 404:
                return None
            raise
        if self._stopping.is_set() or not kind.wants(obj, _utcnow()):
            return None
        try:
            result = kind.turn(obj, claim)
        except Exception:
            self._count(kind.short, "failed")
            raise
        self._count(kind.short, "ok")
        if result is None:
            return None
        return min(max(float(result), 0.0), MAX_WAKE)

    def _finish(
        self,
        key: Key,
        wake: float | None,
        error: BaseException | None,
        turned: bool,
        refused: bool,
    ) -> None:
        now = time.monotonic()
        with self._cond:
            self._running.discard(key)
            self._free += 1
            if refused and wake is not None and key in self._cache:
                self._elsewhere[key] = now + wake
            else:
                self._elsewhere.pop(key, None)
            dirty = key in self._dirty
            self._dirty.discard(key)
            if error is not None:
                self._fail(key, now, "turn", error)  # a change does not skip the backoff
            else:
                if turned:
                    self._failures.pop(key, None)
                if wake is not None:
                    self._queue.schedule(key, now + wake)
                if dirty:
                    self._queue.schedule(key, now)
            self._cond.notify_all()

    # Leases: renewal, loss, release.

    def _renew_loop(self) -> None:
        retry = min(self._renew, 1.0)  # a failed renewal is tried again sooner
        # Side by side: one slow renewal must not delay the others past their loss.
        with ThreadPoolExecutor(self._threads + 1, "scipian-renew") as renewals:
            pending: dict[int, Future[bool]] = {}
            while not self._closed.wait(min(retry, 0.5)):
                with self._cond:
                    holds = list(self._holds.values())
                if self._periodic is not None:
                    holds.append(self._periodic)
                for hold in holds:
                    mono = time.monotonic()
                    busy = pending.get(id(hold))
                    if hold.done or (busy is not None and not busy.done()):
                        continue
                    if mono - hold.last_try < (retry if hold.failing else self._renew):
                        continue
                    pending[id(hold)] = renewals.submit(self._renew_one, hold)
                live = {id(h) for h in holds}
                pending = {k: f for k, f in pending.items() if k in live or not f.done()}

    def _renew_one(self, hold: _Hold, annotations: dict[str, str] | None = None) -> bool:
        with hold.lock:
            if hold.done:
                return False
            hold.last_try = time.monotonic()
            try:
                self._leases.renew(hold.held, _utcnow(), annotations)
                hold.last_ok = time.monotonic()
                hold.failing = False
                return True
            except Gone:
                lost_why = "its Lease was deleted or taken"
            except (ApiException, HTTPError, OSError, ValueError) as e:
                hold.failing = True
                if time.monotonic() - hold.last_ok < self._lost_after:
                    log.info("worker: renewing %s failed (%s)", hold.held.name, _describe(e))
                    return False
                lost_why = f"not renewed for {self._lost_after:.0f} s"
        self._lose(hold, lost_why)
        return False

    def _lose(self, hold: _Hold, why: str) -> None:
        hold.done = True
        log.warning("worker: %s lost %s: %s", self.replica, hold.held.name, why)
        if hold.claim is not None:
            hold.claim.lose()  # on_lost callbacks first, then `lost`
        elif hold is self._periodic:
            self._periodic = None
        self._set_gauge()

    def _release(self, hold: _Hold, keep: bool = False) -> None:
        with hold.lock:
            if hold.done:
                return
            hold.done = True
            if keep:
                self._leases.vacate(hold.held)
            else:
                self._leases.release(hold.held)
        log.debug("worker: %s released %s", self.replica, hold.held.name)

    # Periodic tasks.

    def _periodic_loop(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                tasks = dict(self._tasks)
            if not tasks:
                self._stopping.wait(1.0)
                continue
            if self._periodic is None:
                wait = self._take_periodic(tasks)
                if self._periodic is None:
                    self._stopping.wait(wait)
                    continue
            self._run_due(tasks)
            now = _utcnow()
            nxt = min(
                (t.every - (now - t.last).total_seconds()) if t.last else 0.0
                for t in tasks.values()
            )
            self._stopping.wait(min(max(nxt, 0.05), 1.0))

    def _take_periodic(self, tasks: dict[str, _Task]) -> float:
        """Tries the periodic Lease; seconds to wait before trying again when refused."""
        now = _utcnow()
        try:
            held = self._leases.take(self._periodic_lease, self._lease_seconds, now)
        except Refused as r:
            left = (r.until - now).total_seconds() if r.until is not None else 1.0
            return min(max(left + 0.5, 0.5), self._lease_seconds + 1.0)
        except (ApiException, HTTPError, OSError, ValueError) as e:
            log.info("worker: taking %s failed (%s)", self._periodic_lease, _describe(e))
            return min(self._renew, 5.0)
        notes = (held.body.get("metadata") or {}).get("annotations") or {}
        for name, task in tasks.items():
            task.last = parse_time(notes.get(LAST_RUN + name))  # the previous holder's rhythm
        mono = time.monotonic()
        self._periodic = _Hold(held, None, last_ok=mono, last_try=mono)
        log.info("worker: %s holds %s", self.replica, self._periodic_lease)
        return 0.0

    def _run_due(self, tasks: dict[str, _Task]) -> None:
        for name, task in tasks.items():
            hold = self._periodic
            if hold is None or hold.done or self._stopping.is_set():
                return
            now = _utcnow()
            if task.last is not None and (now - task.last).total_seconds() < task.every:
                continue
            try:
                task.fn(now)
                ok = "ok"
            except Exception as e:  # logged by type; runs again next interval
                log.warning("worker: periodic task %s failed (%s)", name, _describe(e))
                ok = "failed"
            task.last = now
            self._count(f"periodic:{name}", ok)
            self._renew_one(hold, {LAST_RUN + name: stamp(now)})

    def _count(self, kind: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.worker_turn(kind, outcome)

    def _set_gauge(self) -> None:
        if self._metrics is not None:
            with self._cond:
                n = sum(1 for h in self._holds.values() if not h.done)
            self._metrics.worker_claims(n)


def _name(obj: dict[str, Any]) -> str:
    name = (obj.get("metadata") or {}).get("name")
    return name if isinstance(name, str) else ""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _describe(e: BaseException) -> str:
    """An error's class and HTTP status, never its text (which may quote what it handled)."""
    status = status_of(e)
    return f"{type(e).__name__} HTTP {status}" if status else type(e).__name__
