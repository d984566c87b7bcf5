"""Batches as the producer leaves them in Redis, and what a worker wrote of them to Qdrant."""

from __future__ import annotations

import redis

from vecq.shared import keys
from vecq.shared.state import ledger
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch, encode
from vecq.shared.wire.messages import BatchRef
from vecq.workers.context import WorkerContext


def store(r: redis.Redis, batch: Batch, job: str) -> dict[str, object]:
    """Store a batch's blob and ledger entry as the producer does; return its task message."""
    blob = encode(batch)
    ledger.open_job(r, job, batch.index, len(batch), 1)
    pipe = r.pipeline()
    pipe.set(keys.blob(batch.index, batch.seq), blob)
    ref = BatchRef(batch.index, batch.shard, batch.seq, job, len(batch), len(blob))
    ledger.mark_stored(pipe, ref)
    pipe.execute()
    ledger.mark_enqueued(r, job, batch.index)
    return ref.to_message()


def stored(ctx: WorkerContext, info: IndexInfo, ids: list[int]) -> dict[int, tuple[float, int]]:
    """id -> (first vector component, stored sequence number), read through the engine."""
    records = ctx.sink.engine.retrieve(info, ids)
    return {int(p.id): (p.vector[0], p.payload[keys.PAYLOAD_SEQ]) for p in records}
