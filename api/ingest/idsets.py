"""Which ids a source leaves, and which the index holds beyond them, in bounded memory.

A mirror run and ``vecq verify`` both need the source's final id set (every record's id,
the last record of an id deciding: upserted, or deleted) and its difference with the
index's ids, for sources of any size. Ids are spilled to files in hash buckets
(:data:`BUCKETS`), so only one bucket's ids are in memory at a time; a bitmap of one bit per
record says which records are their id's last word.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.api.ingest.sources import Chunk, Source
from vecq.shared import keys
from vecq.shared.engines import Engine, scroll_pages
from vecq.shared.points import ids as idrules
from vecq.shared.points.sharding import splitmix64
from vecq.shared.state.registry import IndexInfo

# Buckets the ids are spilled to: 100 million ids make about 1.6 million per bucket.
BUCKETS = 64
DELETE, UPSERT = 0, 1


def chunk_ids(chunk: Chunk) -> tuple[npt.NDArray[np.int64], list[str | None] | None, list[int]]:
    """A chunk's ids as (keys, names) and each record's operation (``UPSERT``/``DELETE``)."""
    if chunk.records is None:
        assert chunk.ids is not None, "an array chunk carries its ids"
        if chunk.ids.dtype.kind in "iu":
            return np.asarray(chunk.ids, dtype=np.int64), None, [UPSERT] * chunk.rows
        keys, names = idrules.check_id_array(chunk.ids)  # a Parquet column of string ids
        return keys, names, [UPSERT] * chunk.rows
    values = [idrules.check_id(r["id"], row) for row, r in enumerate(chunk.records)]
    key_array, names = idrules.split(values)
    ops = [DELETE if r.get("op") == "delete" else UPSERT for r in chunk.records]
    return key_array, names, ops


@dataclass
class _Bucket:
    """One bucket's spill files: integer keys with their record positions, and strings."""

    path: Path

    def add(
        self,
        keys_: npt.NDArray[np.int64],
        positions: npt.NDArray[np.int64],
        ops: npt.NDArray[np.int8],
        strings: list[tuple[int, int, str]],
    ) -> None:
        if keys_.size:
            with (self.path / "keys").open("ab") as f:
                f.write(keys_.tobytes())
            with (self.path / "positions").open("ab") as f:
                f.write(positions.tobytes())
            with (self.path / "ops").open("ab") as f:
                f.write(ops.tobytes())
        if strings:
            with (self.path / "strings").open("a", encoding="utf-8") as f:
                f.writelines(f"{pos}\t{op}\t{name}\n" for pos, op, name in strings)

    def last_words(
        self,
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], dict[str, tuple[int, int]]]:
        """The last record of each integer id (keys, positions, ops), and of each string id."""
        keys_ = _read(self.path / "keys", np.int64)
        positions = _read(self.path / "positions", np.int64)
        ops = _read(self.path / "ops", np.int8)
        if keys_.size:
            # Records were appended in order: the last occurrence of a key is its last word.
            unique, first_reversed = np.unique(keys_[::-1], return_index=True)
            last = keys_.size - 1 - first_reversed
            keys_, positions, ops = unique, positions[last], ops[last]
        strings: dict[str, tuple[int, int]] = {}
        text = self.path / "strings"
        if text.exists():
            with text.open(encoding="utf-8") as f:
                for line in f:
                    pos, op, name = line.rstrip("\n").split("\t", 2)
                    strings[name] = (int(pos), int(op))
        return keys_, positions, ops, strings


@dataclass
class SourceIds:
    """A source's ids spilled to buckets, and which records are their id's last word."""

    directory: Path
    records: int = 0
    final: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    """One flag per record (in reading order): True if no later record has its id."""
    present: int = 0
    """Ids whose last record is an upsert: the ids the source leaves in the index."""

    @classmethod
    def scan(
        cls,
        sources: Sequence[Source],
        chunk_rows: int | None,
        dimension: int,
        directory: Path | None = None,
    ) -> SourceIds:
        """Read every record's id of ``sources`` once (a first pass before the real one)."""
        from vecq.api.ingest.backfill import chunk_rows_for

        where = Path(directory or tempfile.mkdtemp(prefix="vecq-ids-"))
        buckets = [_Bucket(where / str(b)) for b in range(BUCKETS)]
        for b in buckets:
            b.path.mkdir(parents=True, exist_ok=True)
        position = 0
        for source in sources:
            for chunk in source.chunks(chunk_rows or chunk_rows_for(source, dimension)):
                key_array, names, ops = chunk_ids(chunk)
                _spill(buckets, key_array, names, np.array(ops, np.int8), position)
                position += chunk.rows
        found = cls(where, position, np.zeros(position, dtype=bool))
        for b in buckets:
            _, positions, int_ops, strings = b.last_words()
            found.final[positions] = True
            found.present += int(np.count_nonzero(int_ops == UPSERT))
            for pos, op in strings.values():
                found.final[pos] = True
                found.present += op == UPSERT
        return found

    def extras(
        self, engine: Engine, info: IndexInfo, page: int = 1000
    ) -> Iterator[list[idrules.Id]]:
        """The ids the index holds that the source does not leave, a bucket at a time."""
        held = [_Bucket(self.directory / f"held-{n}") for n in range(BUCKETS)]
        for bucket in held:
            bucket.path.mkdir(parents=True, exist_ok=True)
        batch: list[idrules.Id] = []
        for point in scroll_pages(engine, info, page, vectors=False):
            name = point.payload.get(keys.PAYLOAD_ID)
            batch.append(name if isinstance(name, str) else int(point.id))
            if len(batch) >= 10_000:
                self._spill_held(held, batch)
                batch = []
        self._spill_held(held, batch)
        for b in range(BUCKETS):
            source = _Bucket(self.directory / str(b))
            s_keys, _, s_ops, s_strings = source.last_words()
            h_keys, _, _, h_strings = held[b].last_words()
            left = s_keys[s_ops == UPSERT]
            extra: list[idrules.Id] = list(np.setdiff1d(h_keys, left, assume_unique=True).tolist())
            extra += [n for n in h_strings if s_strings.get(n, (0, DELETE))[1] != UPSERT]
            if extra:
                yield extra

    @staticmethod
    def _spill_held(buckets: list[_Bucket], ids: list[idrules.Id]) -> None:
        if ids:
            key_array, names = idrules.split(ids)
            _spill(buckets, key_array, names, np.full(len(ids), UPSERT, np.int8), 0)


def _spill(
    buckets: list[_Bucket],
    key_array: npt.NDArray[np.int64],
    names: list[str | None] | None,
    ops: npt.NDArray[np.int8],
    first: int,
) -> None:
    n = key_array.size
    which = (splitmix64(key_array) % np.uint64(BUCKETS)).astype(np.intp)
    positions = np.arange(first, first + n, dtype=np.int64)
    is_int = np.ones(n, dtype=bool)
    strings: list[list[tuple[int, int, str]]] = [[] for _ in buckets]
    for row, name in enumerate(names or ()):
        if name is not None:
            is_int[row] = False
            strings[which[row]].append((first + row, int(ops[row]), name))
    for b, bucket in enumerate(buckets):
        rows = np.flatnonzero((which == b) & is_int)
        bucket.add(key_array[rows], positions[rows], ops[rows], strings[b])


def _read(path: Path, dtype: type) -> npt.NDArray[Any]:
    return np.fromfile(path, dtype=dtype) if path.exists() else np.empty(0, dtype=dtype)
