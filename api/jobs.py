"""``UpsertJob``: a handle on one call (upsert, delete or metadata update), read from its
ledger in Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from vecq.shared import keys
from vecq.shared.errors import Failure, ServiceError, UpsertError, VecqError, WaitTimeout
from vecq.shared.state import job_state
from vecq.shared.state.job_state import JobState, Status

# Longest sleep between two ledger reads while waiting; the completion signal usually
# wakes the waiter long before this.
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Progress:
    """How far a job has come, in vectors."""

    total: int
    written: int
    failed: int

    @property
    def settled(self) -> int:
        """Vectors written or failed."""
        return self.written + self.failed

    @property
    def fraction(self) -> float:
        """Share of the vectors settled, from 0.0 to 1.0."""
        return 1.0 if self.total == 0 else self.settled / self.total


class UpsertJob:
    """One call (``upsert``, ``delete``, ``update_metadata``): its id, and its progress as the
    workers settle its batches."""

    def __init__(
        self,
        r: redis.Redis,
        job_id: str,
        index: str,
        total: int,
        stall_timeout: float,
        op: str = "upsert",
        service_stopped: Callable[[], bool] | None = None,
    ) -> None:
        self._redis = r
        self.job_id = job_id
        self.index = index
        self.total = total
        self.op = op
        """``upsert``, ``delete`` or ``update`` (of metadata)."""
        self._stall_timeout = stall_timeout
        self._service_stopped = service_stopped

    def __repr__(self) -> str:
        return f"<UpsertJob {self.job_id} {self.op} index={self.index!r} total={self.total}>"

    def state(self) -> JobState:
        """A fresh snapshot of the job's ledger."""
        snapshot = job_state.read(self._redis, self.job_id)
        if snapshot is None:
            raise VecqError(f"job {self.job_id} has no ledger in Redis (expired or never created)")
        return snapshot

    @property
    def progress(self) -> Progress:
        """Vectors total, written and failed so far."""
        s = self.state()
        return Progress(s.total, s.written, s.failed)

    @property
    def status(self) -> Status:
        """``enqueuing``, ``queued``, ``running``, ``done`` or ``failed``."""
        return self.state().status

    @property
    def failures(self) -> list[Failure]:
        """Every failed batch: its ids and the reason."""
        return job_state.failures(self._redis, self.job_id)

    def _pause_for_redis(
        self, start: float, timeout: float | None, last_change: float, exc: Exception
    ) -> None:
        """Sleep a poll while Redis is unavailable; raise once the wait is over."""
        if self._service_stopped is not None and self._service_stopped():
            raise ServiceError(
                f"the vecq service was stopped (`vecq down`) before job {self.job_id} was "
                "written; its queue is kept: the next `vecq up` (or the same command again) "
                "writes it"
            ) from exc
        now = time.monotonic()
        if (timeout is not None and now - start >= timeout) or (
            now - last_change >= self._stall_timeout
        ):
            raise WaitTimeout(
                f"job {self.job_id}: Redis has not answered for "
                f"{now - last_change:.0f}s ({exc}); the job stays enqueued"
            ) from exc
        time.sleep(_POLL_SECONDS)

    def wait(self, timeout: float | None = None) -> UpsertJob:
        """Block until every batch is settled; raise :class:`UpsertError` if any failed.

        Raises :class:`WaitTimeout` after ``timeout`` seconds, or sooner when no batch of any
        job has settled for the stall timeout (usually: no worker is running; a job queued
        behind other jobs' batches waits as long as the workers settle those), and
        :class:`ServiceError` at once when the embedded service was stopped under it.
        """
        start = time.monotonic()
        last_change, last_seen = start, (-1, 0.0)
        fleet = _Fleet(self._redis)
        trouble: Exception | None = None
        while True:
            try:
                s = self.state()
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
                if not _passing(exc):
                    raise
                trouble = exc  # Redis restarting, or refusing writes for a while (disk full)
                self._pause_for_redis(start, timeout, last_change, exc)
                continue
            if s.finished:
                break
            now = time.monotonic()
            # A settled batch, a retry or a redelivery all count as signs of life.
            if (s.settled, s.updated_at) != last_seen:
                last_change, last_seen = now, (s.settled, s.updated_at)
            if timeout is not None and now - start >= timeout:
                raise WaitTimeout(
                    f"job {self.job_id} not finished after {timeout:g}s "
                    f"({s.written + s.failed} of {s.total} vectors settled)"
                )
            if now - last_change >= _POLL_SECONDS and fleet.moved():
                # The workers are busy with other jobs' batches queued ahead of this one's.
                last_change = now
            if now - last_change >= self._stall_timeout:
                why = f" (Redis said: {trouble})" if trouble is not None else ""
                raise WaitTimeout(
                    f"job {self.job_id}: no batch of any job settled for "
                    f"{self._stall_timeout:g}s ({s.written + s.failed} of {s.total} vectors "
                    f"settled){why}. Are workers running? Start one with `vecq worker`."
                )
            budget = _POLL_SECONDS if timeout is None else min(_POLL_SECONDS, start + timeout - now)
            try:
                job_state.wait_for_wakeup(self._redis, self.job_id, budget)
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
                if not _passing(exc):
                    raise
                trouble = exc
                time.sleep(budget)
        if s.failed:
            raise _upsert_error(self, s, self.failures)
        return self


class _Fleet:
    """Whether the fleet of workers settled a batch of any job since the last look."""

    def __init__(self, r: redis.Redis) -> None:
        self._r = r
        self._settled: bytes | None = None

    def moved(self) -> bool:
        settled: bytes | None = self._r.get(keys.settled())  # type: ignore[assignment]  # redis-py types every reply as a union
        moved = self._settled is not None and settled != self._settled
        self._settled = settled
        return moved


def _passing(exc: Exception) -> bool:
    """True for a Redis error a wait rides out: a lost connection, a timeout, or a Redis that
    refuses writes for now (MISCONF: its disk is full; LOADING: it is restarting)."""
    if isinstance(exc, redis.ResponseError):
        return str(exc).startswith(("MISCONF", "LOADING", "BUSY", "OOM"))
    return True


# How each kind of job says what did not happen to its ids.
_FAILED = {
    "upsert": "vectors could not be written to",
    "delete": "ids could not be deleted from",
    "update": "ids could not be updated in",
}


def _upsert_error(job: UpsertJob, s: JobState, failures: list[Failure]) -> UpsertError:
    ids = [i for f in failures for i in f.ids]
    shown = ", ".join(map(repr, ids[:10])) + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")
    reasons = sorted({f.reason for f in failures})
    return UpsertError(
        f"{s.failed} of {s.total} {_FAILED.get(s.op, _FAILED['upsert'])} index {job.index!r} "
        f"(job {job.job_id}): ids [{shown}]; reason: {'; '.join(reasons[:3])}",
        failures,
    )
