"""A Parquet object read one row group at a time, each in as few ranged GETs as its columns
allow.

pyarrow's pre-buffering coalesces a row group's column chunks only up to 32 MiB a request,
so a row group of an 8-byte ``id`` column and a 70 MB ``vector`` column costs two GETs, and
its options are not offered on :class:`pyarrow.parquet.ParquetFile`. :class:`RowGroupFile`
stands between the Parquet reader and an object: when the reader first reaches a row
group's column chunks, the ranges of the columns read are fetched, those nearer than
:data:`GAP_BYTES` joined into one request, and held (Arrow buffers, handed to the reader
without a copy) until the reader moves to the next row group. Anything else (the footer)
is read as asked.
"""

from __future__ import annotations

import bisect
from typing import Any

# Column chunks of one row group closer than this are fetched in one request (the bytes
# between them are read and dropped).
GAP_BYTES = 1024 * 1024


def spans(metadata: Any, columns: list[str]) -> list[list[tuple[int, int]]]:
    """Per row group, the byte ranges of ``columns``' chunks, sorted, near ones joined."""
    groups = []
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        ranges = []
        for i in range(group.num_columns):
            chunk = group.column(i)
            path = chunk.path_in_schema  # a list column's: vector.list.element
            if not any(path == name or path.startswith(name + ".") for name in columns):
                continue
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and chunk.dictionary_page_offset:
                start = min(start, chunk.dictionary_page_offset)
            ranges.append((start, start + chunk.total_compressed_size))
        joined: list[tuple[int, int]] = []
        for start, end in sorted(ranges):
            if joined and start - joined[-1][1] <= GAP_BYTES:
                joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
            else:
                joined.append((start, end))
        groups.append(joined)
    return groups


class RowGroupFile:
    """A read-only, seekable file over ``source`` (a :class:`pyarrow.NativeFile`) for
    :class:`pyarrow.parquet.ParquetFile` with ``pre_buffer=False``: see the module."""

    def __init__(self, source: Any, metadata: Any, columns: list[str]) -> None:
        self._source = source
        self._size = source.size()
        self._pos = 0
        self._groups = spans(metadata, columns)
        # Every range's (start, row group), sorted: which row group a read falls in.
        self._starts = sorted((s, g) for g, ranges in enumerate(self._groups) for s, _ in ranges)
        self._held: list[tuple[int, Any]] = []  # (start, buffer) of the row group held
        self._held_group = -1
        self.requests = 0
        """Ranged reads issued (for the tests)."""

    def _group_of(self, pos: int) -> int:
        i = bisect.bisect_right(self._starts, (pos, len(self._groups))) - 1
        if i < 0:
            return -1
        group = self._starts[i][1]
        return group if any(s <= pos < e for s, e in self._groups[group]) else -1

    def _hold(self, group: int) -> None:
        self._held = []  # released before the next group's bytes arrive
        for start, end in self._groups[group]:
            self._held.append((start, self._read(start, end - start)))
        self._held_group = group

    def read(self, size: int = -1) -> Any:
        if size < 0:
            size = self._size - self._pos
        pos, self._pos = self._pos, min(self._size, self._pos + size)
        group = self._group_of(pos)
        if group >= 0 and group != self._held_group:
            self._hold(group)
        for start, buffer in self._held:
            if start <= pos and pos + size <= start + buffer.size:
                return memoryview(buffer)[pos - start : pos - start + size]
        return memoryview(self._read(pos, size))

    def _read(self, pos: int, size: int) -> Any:
        """``size`` bytes at ``pos`` in one request, as an Arrow buffer (no copy)."""
        self.requests += 1
        self._source.seek(pos)
        return self._source.read_buffer(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return int(self._size)

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return bool(self._source.closed)

    def close(self) -> None:
        self._held = []
        self._source.close()
