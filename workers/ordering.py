"""How every write of a batch obeys the deletes and metadata updates newer than it.

The marks in Redis (``shared/state/marks.py``) say, per point, which deletes and updates are
still kept. Around an upsert's conditional write: points with a newer delete are left out,
newer updates are merged into the metadata written, and whatever marks appeared while the
write was in flight are applied right after it. A delete is one conditional delete
(``_vecq_seq < seq``: a newer upsert stays). An update merges every kept patch of the
point from its own onwards into points older than it, then reports the ids it could not
find, once no older upsert that might create them is still in flight.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from vecq.shared import keys
from vecq.shared.points import ids as idrules
from vecq.shared.points.metadata import Metadata
from vecq.shared.state import marks
from vecq.shared.state.marks import PointMarks, Snapshot
from vecq.shared.state.registry import IndexInfo
from vecq.shared.wire.codec import Batch
from vecq.workers import retry
from vecq.workers.context import WorkerContext

# Countdown of an update that waits for older upserts: half the time it has waited so far,
# within these bounds, so a short wait is noticed soon and a long one costs few deliveries.
MIN_DEFER_SECONDS = 0.5
MAX_DEFER_SECONDS = 30.0

NOT_FOUND = "id not found: no point with this id was stored when the update applied"


class Deferred(Exception):
    """An update must wait for older upserts that may create its missing points."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"waiting {countdown:.1f}s for older upserts")
        self.countdown = countdown


def point_keys(batch: Batch) -> list[str]:
    """The batch's point ids as the marks know them."""
    return [idrules.mark_key(p) for p in batch.point_ids()]


@dataclass(frozen=True)
class Ready:
    """An upsert batch as it may be written, and what it was prepared from."""

    batch: Batch
    rows: npt.NDArray[np.intp]
    """The row in the original batch of each row of ``batch``."""
    seen: Snapshot


def prepare_upsert(ctx: WorkerContext, batch: Batch) -> Ready:
    """The batch as it may be written: without points a newer delete removed, with newer
    metadata updates merged in; with the marks it was prepared from."""
    seen = retry.call(lambda: marks.snapshot(ctx.redis, batch.index, point_keys(batch)))
    every = np.arange(len(batch), dtype=np.intp)
    if not seen.points:
        return Ready(batch, every, seen)
    mkeys = point_keys(batch)
    keep: list[int] = []
    metadata: list[Metadata | None] = list(batch.metadata or [None] * len(batch))
    for row, key in enumerate(mkeys):
        found = seen.points.get(key)
        if found is None:
            keep.append(row)
            continue
        if found.deleted_after(batch.seq):
            continue  # a newer delete wins: writing it would resurrect the point
        newer = found.patches_from(batch.seq + 1)
        if newer is not None:
            metadata[row] = merged(metadata[row], newer[1])
        keep.append(row)
    patched = replace(batch, metadata=metadata if any(m is not None for m in metadata) else None)
    if len(keep) == len(batch):
        return Ready(patched, every, seen)
    rows = np.array(keep, dtype=np.intp)
    return Ready(patched.select(rows), rows, seen)


def merged(base: Metadata | None, patch: Metadata) -> Metadata:
    """``base`` with ``patch``'s keys set, as Qdrant's set_payload does: None removes a key."""
    out = dict(base or {})
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def after_upsert(
    ctx: WorkerContext, info: IndexInfo, ready: Ready, seqs: npt.NDArray[np.int64] | None = None
) -> None:
    """Apply the marks that appeared while ``ready`` (its points with ``seqs``, by default the
    batch's own) was written.

    A delete or update enqueued meanwhile may have been applied before this write landed:
    the delete found nothing to remove, or the write replaced the update's keys. Applying
    it again is harmless (both are conditional on the point being older).
    """
    batch, index = ready.batch, ready.batch.index
    if not len(batch) or retry.call(lambda: marks.version(ctx.redis, index)) == ready.seen.version:
        return
    if seqs is None:
        seqs = np.full(len(batch), batch.seq, dtype=np.int64)
    mkeys = point_keys(batch)
    found = retry.call(lambda: marks.lookup(ctx.redis, index, mkeys))
    pids = batch.point_ids()
    deletes: dict[int, list[int | str]] = {}
    merges: dict[tuple[int, str], tuple[Metadata, list[int | str]]] = {}
    for row, key in enumerate(mkeys):
        point = found.get(key)
        if point is None:
            continue
        seq = int(seqs[row])
        deleted = point.deleted_after(seq)
        if deleted:
            deletes.setdefault(deleted, []).append(pids[row])
            continue
        _add_merge(merges, point, seq + 1, pids[row])
    for below, ids in deletes.items():
        ctx.sink.delete(info, ids, below)
    for (below, _), (patch, ids) in merges.items():
        ctx.sink.merge(info, ids, patch, below)


def apply_delete(ctx: WorkerContext, info: IndexInfo, batch: Batch) -> None:
    """Delete the batch's points wherever no newer write replaced them."""
    ctx.sink.delete(info, batch.point_ids(), batch.seq)


def apply_update(
    ctx: WorkerContext, info: IndexInfo, batch: Batch, first_seen: float
) -> dict[int, str]:
    """Merge the batch's metadata into its points; return the rows not found, with why.

    Each point gets its own patch and every kept newer one, merged in order, so updates
    applied out of order end as in call order. An id not found (or deleted by an older call
    whose delete is still to come) may yet be created by an older upsert in flight: then the
    update is :class:`Deferred` until none is.
    """
    mkeys = point_keys(batch)
    pids = batch.point_ids()
    found = retry.call(lambda: marks.lookup(ctx.redis, batch.index, mkeys))
    merges: dict[tuple[int, str], tuple[Metadata, list[int | str]]] = {}
    for row, key in enumerate(mkeys):
        point = found.get(key) or PointMarks()
        own = (batch.metadata or [None] * len(batch))[row] or {}
        if not _add_merge(merges, point, batch.seq, pids[row]):
            _add_merge(merges, PointMarks(patches=((batch.seq, own),)), batch.seq, pids[row])
    for (below, _), (patch, ids) in merges.items():
        ctx.sink.merge(info, ids, patch, below)
    missing = _missing(ctx, info, batch, pids, found)
    if not missing:
        return {}
    if retry.call(lambda: marks.older_upsert_in_flight(ctx.redis, batch.index, batch.seq)):
        waited = max(0.0, time.time() - first_seen)
        raise Deferred(min(MAX_DEFER_SECONDS, max(MIN_DEFER_SECONDS, waited / 2)))
    return dict.fromkeys(missing, NOT_FOUND)


def _missing(
    ctx: WorkerContext,
    info: IndexInfo,
    batch: Batch,
    pids: Sequence[int | str],
    found: dict[str, PointMarks],
) -> list[int]:
    """Rows whose point did not exist when the update applied, in call order as far as known.

    Not found: no point, and no newer delete (which may have removed one that existed); or
    a point older than a delete that precedes the update. A point newer than the update
    was written by a later call and counts as found.
    """
    stored = {
        idrules.mark_key(p.id): int(p.payload.get(keys.PAYLOAD_SEQ, 0))
        for p in retry.call(lambda: ctx.sink.engine.retrieve(info, list(pids), vectors=False))
    }
    rows = []
    for row, pid in enumerate(pids):
        key = idrules.mark_key(pid)
        point = found.get(key) or PointMarks()
        seq = stored.get(key)
        if seq is None:
            if not point.deleted_after(batch.seq):
                rows.append(row)
        elif seq < batch.seq and point.deleted_between(seq, batch.seq):
            rows.append(row)
    return rows


def _add_merge(
    merges: dict[tuple[int, str], tuple[Metadata, list[int | str]]],
    point: PointMarks,
    since: int,
    pid: int | str,
) -> bool:
    """Group ``pid`` by the merge of its patches from ``since``; False if it has none."""
    newer = point.patches_from(since)
    if newer is None:
        return False
    below, patch = newer
    slot = merges.setdefault((below, _canonical(patch)), (patch, []))
    slot[1].append(pid)
    return True


def _canonical(patch: Metadata) -> str:
    return json.dumps(patch, sort_keys=True, separators=(",", ":"))
