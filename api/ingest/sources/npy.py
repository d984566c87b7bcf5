"""NumPy files as backfill sources: a ``.npy`` (memory-mapped) and an ``.npz`` (streamed).

:func:`read_header` is the one reader of a ``.npy`` header, shared with the HTTP API's
binary bodies; nothing here ever unpickles.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from vecq.api.ingest.sources import Chunk, digest, stat_key
from vecq.shared.errors import SourceError


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says: the array's shape, memory order and dtype."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype[Any]


def read_header(stream: IO[bytes], where: str) -> NpyHeader:
    """Read a ``.npy`` header from ``stream`` (left at the data); ``SourceError`` if it is bad.

    Object arrays are refused: reading them would need pickle.
    """
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):  # 3.0 differs only in the header's text encoding
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as exc:  # numpy raises ValueError, EOFError, OSError, ... for bad bytes
        raise SourceError(f"{where} is not a .npy array ({exc})") from None
    if dtype.hasobject:
        raise SourceError(f"{where} holds Python objects; vecq reads numbers only (no pickle)")
    return NpyHeader(tuple(int(d) for d in shape), bool(fortran_order), dtype)


def _load(path: Path) -> Any:
    """A ``.npy`` memory-mapped (never unpickled); ``SourceError`` naming the file if not."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise SourceError(f"{path}: not a readable .npy file ({exc})") from exc


class NpySource:
    """A 2-D ``.npy`` of vectors, memory-mapped; ids from a 1-D ``.npy`` or counted from a start."""

    stdin = False

    def __init__(self, path: Path, ids: Path | None = None, id_start: int = 0) -> None:
        self.path = path
        self.name = str(path)
        self.ids_path = ids
        self.id_start = id_start
        self.carries_ids = ids is not None
        self._vectors = _load(path)
        self._ids = None if ids is None else _load(ids)
        if self._ids is not None and self._ids.dtype.kind not in "iuUO":
            raise SourceError(
                f"{ids}: ids must be integers or strings, got dtype {self._ids.dtype} (the "
                f"ids file, not {path.name}); convert it, e.g. ids.astype(np.int64)"
            )
        if self._vectors.ndim != 2:
            raise SourceError(
                f"{path}: vectors must be a 2-D array (rows, dimension), got shape "
                f"{self._vectors.shape}"
            )
        if self._ids is not None and self._ids.shape != (self._vectors.shape[0],):
            raise SourceError(
                f"{ids}: ids must be a 1-D array of {self._vectors.shape[0]} (one per row of "
                f"{path.name}), got shape {self._ids.shape}"
            )

    def fingerprint(self, chunk_rows: int) -> str:
        ids = stat_key(self.ids_path) if self.ids_path is not None else f"start={self.id_start}"
        return digest("npy", stat_key(self.path), ids, chunk_rows)

    def total(self) -> int | None:
        return int(self._vectors.shape[0])

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        n = int(self._vectors.shape[0])
        for number, lo in enumerate(range(0, n, chunk_rows)):
            hi = min(lo + chunk_rows, n)
            if self._ids is not None:
                ids = np.asarray(self._ids[lo:hi])
            else:
                ids = np.arange(self.id_start + lo, self.id_start + hi, dtype=np.int64)
            yield Chunk(number, lo, hi - lo, ids=ids, vectors=self._vectors[lo:hi])


class NpzSource:
    """An ``.npz`` with a 2-D ``vectors`` array and optionally 1-D ``ids``, streamed row by row.

    Members are read from the zip in chunks (compressed or not), never loaded whole. Without
    ``ids`` they are counted from a start, as for ``.npy``.
    """

    stdin = False

    def __init__(self, path: Path, id_start: int = 0) -> None:
        self.path = path
        self.name = str(path)
        self.id_start = id_start
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                if "vectors.npy" not in names:
                    found = ", ".join(sorted(n.removesuffix(".npy") for n in names)) or "none"
                    raise SourceError(f"{path}: needs an array named 'vectors' (found: {found})")
                self._shape, _ = _npy_header(zf, "vectors.npy", path)
                self._has_ids = self.carries_ids = "ids.npy" in names
                if self._has_ids:
                    ids_shape, _ = _npy_header(zf, "ids.npy", path)
                    if ids_shape != (self._shape[0],):
                        raise SourceError(
                            f"{path}: 'ids' must be 1-D with one id per row of 'vectors' "
                            f"({self._shape[0]}), got shape {ids_shape}"
                        )
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(f"{path}: not a readable .npz file ({exc})") from exc
        if len(self._shape) != 2:
            raise SourceError(f"{path}: 'vectors' must be 2-D, got shape {self._shape}")

    def fingerprint(self, chunk_rows: int) -> str:
        return digest("npz", stat_key(self.path), f"start={self.id_start}", chunk_rows)

    def total(self) -> int | None:
        return int(self._shape[0])

    def chunks(self, chunk_rows: int) -> Iterator[Chunk]:
        n, dim = self._shape
        with zipfile.ZipFile(self.path) as zf:
            vectors = _rows(zf, "vectors.npy", (dim,), chunk_rows)
            ids = _rows(zf, "ids.npy", (), chunk_rows) if self._has_ids else None
            for number, lo in enumerate(range(0, n, chunk_rows)):
                hi = min(lo + chunk_rows, n)
                block = next(vectors)
                id_block = (
                    next(ids)
                    if ids is not None
                    else np.arange(self.id_start + lo, self.id_start + hi, dtype=np.int64)
                )
                yield Chunk(number, lo, hi - lo, ids=id_block, vectors=block)


def _npy_header(zf: zipfile.ZipFile, member: str, path: Path) -> tuple[tuple[int, ...], Any]:
    with zf.open(member) as f:
        header = read_header(f, f"{path}: '{member[:-4]}'")
    if header.fortran_order and len(header.shape) > 1:
        raise SourceError(f"{path}: '{member[:-4]}' is stored in Fortran order; save it C-ordered")
    return header.shape, header.dtype


def _rows(
    zf: zipfile.ZipFile, member: str, row_shape: tuple[int, ...], chunk_rows: int
) -> Iterator[npt.NDArray[Any]]:
    """Successive blocks of ``chunk_rows`` rows of one array member, read as a stream."""
    with zf.open(member) as f:
        header = read_header(f, member)
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * header.dtype.itemsize
        left = header.shape[0]
        while left:
            take = min(chunk_rows, left)
            data = f.read(take * row_bytes)
            yield np.frombuffer(data, dtype=header.dtype).reshape((take, *row_shape))
            left -= take
