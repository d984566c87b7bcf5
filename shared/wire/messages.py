"""The small JSON reference a Celery task carries instead of the vectors (the claim check).

:func:`send` publishes one, by task name, with any Celery app: the producer's, a worker's
(republishing a lost batch, retrying a live one) or the dead-letter replay's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vecq.shared import keys
from vecq.shared.errors import CorruptBlobError


@dataclass(frozen=True)
class BatchRef:
    """Points a worker at one stored batch blob and the job it belongs to."""

    index: str
    shard: int
    seq: int
    job: str
    n: int
    size: int
    v: int = keys.MESSAGE_VERSION

    @property
    def blob_key(self) -> str:
        """The Redis key of the blob; derived, so a message cannot point outside its index."""
        return keys.blob(self.index, self.seq)

    def to_message(self) -> dict[str, Any]:
        """The JSON-safe dict sent as the task's only argument."""
        return {
            "index": self.index,
            "shard": self.shard,
            "seq": self.seq,
            "job": self.job,
            "n": self.n,
            "size": self.size,
            "v": self.v,
        }

    def describe(self) -> str:
        """A short human-readable name of the batch (shown by Flower and in logs)."""
        return f"{self.index}/{self.shard} seq {self.seq} ({self.n} vectors, job {self.job})"

    @property
    def member(self) -> str:
        """The message as one canonical string: its member in the pending set."""
        return json.dumps(self.to_message(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_message(cls, message: Any) -> BatchRef:
        """Parse and type-check a task argument; raise :class:`CorruptBlobError` if malformed."""
        if not isinstance(message, dict):
            raise CorruptBlobError(f"task message must be a JSON object, got {type(message)}")
        if message.get("v") != keys.MESSAGE_VERSION:
            raise CorruptBlobError(
                f"task message version {message.get('v')!r}, this worker reads "
                f"{keys.MESSAGE_VERSION}"
            )
        try:
            ref = cls(
                index=_typed(message, "index", str),
                shard=_typed(message, "shard", int),
                seq=_typed(message, "seq", int),
                job=_typed(message, "job", str),
                n=_typed(message, "n", int),
                size=_typed(message, "size", int),
            )
        except KeyError as exc:
            raise CorruptBlobError(f"task message lacks field {exc}") from None
        return ref


def _typed(message: dict[str, Any], name: str, kind: type) -> Any:
    value = message[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CorruptBlobError(f"task message field {name!r} must be {kind.__name__}")
    return value


def send(app: Any, ref: BatchRef, queue: str = keys.QUEUE_BULK, **options: Any) -> None:
    """Publish ``ref`` as vecq's batch task on ``queue`` with the Celery ``app``.

    ``options`` go to ``send_task`` (``countdown``, ``retries``). What Flower and worker logs
    show is the batch's short description, which also spares Celery a recursive repr of the
    arguments (a third of the cost of publishing).
    """
    app.send_task(
        keys.TASK_UPSERT_BATCH,
        args=[ref.to_message()],
        queue=queue,
        argsrepr=ref.describe(),
        kwargsrepr="{}",
        **options,
    )
