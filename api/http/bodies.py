"""Binary upsert bodies of the HTTP API: a NumPy ``.npy`` or ``.npz``, or an Arrow IPC stream.

Each decodes to ``(ids, vectors, metadata)`` for :func:`vecq.shared.points.validation.from_arrays`,
without ever unpickling (``allow_pickle=False``) and with errors that say what is wrong. What
a body declares it unpacks to (a .npy header's shape, an .npz's members, an Arrow stream's
compressed buffers) is checked against ``limit`` before anything is unpacked, in Python
integers (a shape of 2**62 rows does not wrap around).
"""

from __future__ import annotations

import io
import itertools
import math
import zipfile
from typing import Any

import numpy as np
import numpy.typing as npt

from vecq.api.http import arrow_size
from vecq.api.ingest.arrow import arrow_ids, arrow_metadata, arrow_vectors
from vecq.api.ingest.sources.npy import read_header
from vecq.shared.errors import SourceError

NPY = "application/x-npy"
NPZ = "application/x-npz"
ARROW = "application/vnd.apache.arrow.stream"
TYPES = (NPY, NPZ, ARROW)

# (ids, vectors, metadata); vectors is a dict of name to column for named vectors.
Arrays = tuple[npt.NDArray[Any], Any, list[dict[str, Any] | None] | None]


def decode(content_type: str, body: bytes, id_start: int | None, limit: int) -> Arrays:
    """``(ids, vectors, metadata)`` from a body of ``content_type`` that unpacks to at most
    ``limit`` bytes; ``SourceError`` if it is bad or would unpack to more."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == NPY:
        return _npy(body, id_start)
    if kind == NPZ:
        return _npz(body, id_start, limit)
    if kind == ARROW:
        return _arrow(body, limit)
    raise SourceError(f"unsupported content type {content_type!r}: use one of {', '.join(TYPES)}")


def _ids_from(id_start: int | None, n: int, what: str) -> npt.NDArray[Any]:
    if id_start is None:
        raise SourceError(f"{what} has no ids: pass the first id as ?id_start=N")
    if not 0 <= id_start < 2**63 - n:
        raise SourceError(f"id_start must be in 0..2**63-1-n, got {id_start}")
    return np.arange(id_start, id_start + n, dtype=np.int64)


def _npy(body: bytes, id_start: int | None) -> Arrays:
    vectors = _npy_view(body)
    if vectors.ndim != 2:
        raise SourceError(
            f"the .npy body must be a 2-D array of vectors, got shape {vectors.shape}"
        )
    return _ids_from(id_start, len(vectors), "a .npy body"), vectors, None


def _npy_view(body: bytes) -> npt.NDArray[Any]:
    """The array of a ``.npy`` body as a view of the body's bytes (``np.load`` copies twice)."""
    head = io.BytesIO(body)
    header = read_header(head, "the body")
    count = math.prod(header.shape)  # a Python int: no overflow
    needed, held = count * header.dtype.itemsize, len(body) - head.tell()
    if needed > held:
        raise SourceError(
            f"the body is not a .npy array: its header's shape {header.shape} needs {needed:,} "
            f"bytes of data, the body holds {held:,}"
        )
    try:
        flat = np.frombuffer(body, dtype=header.dtype, count=count, offset=head.tell())
    except ValueError as exc:  # fewer bytes than the header promises
        raise SourceError(f"the body is not a .npy array ({exc})") from None
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C")


def _npz(body: bytes, id_start: int | None, limit: int) -> Arrays:
    _check_members(body, limit)
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise SourceError("the body is a .npy array, not an .npz archive")
            names = set(archive.files)
            ids = archive["ids"] if "ids" in names else None
            if "vectors" not in names and any(n.startswith(_NAMED) for n in names):
                named = _named_npz({n: archive[n] for n in names if n.startswith(_NAMED)})
                n = len(next(iter(named.values())))
                if ids is None:
                    ids = _ids_from(id_start, n, "an .npz body without 'ids'")
                return ids, named, None
            if "vectors" not in names:
                raise SourceError(f"the .npz body has no 'vectors' array (it has {sorted(names)})")
            vectors = archive["vectors"]
    except SourceError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise SourceError(f"the body is not a readable .npz archive ({exc})") from None
    if vectors.ndim != 2:
        raise SourceError(f"'vectors' must be 2-D, got shape {vectors.shape}")
    if ids is None:
        ids = _ids_from(id_start, len(vectors), "an .npz body without 'ids'")
    return ids, vectors, None


def _check_members(body: bytes, limit: int) -> None:
    """Refuse an .npz whose members would unpack to more than ``limit`` bytes in all (zipfile
    never reads past a member's declared size, so the declared sizes bound the memory)."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise SourceError(f"the body is not a readable .npz archive ({exc})") from None
    if unpacked > limit:
        raise SourceError(
            f"the .npz body would unpack to {unpacked:,} bytes, more than the limit {limit:,} "
            "(vecq serve --max-body-mb); send it in parts"
        )


# Array names of an .npz body of named vectors: "vector.NAME" (dense, (n, size)),
# "multi.NAME.rows" + "multi.NAME.offsets" (rows one after another, n + 1 offsets; a point
# with no rows has none), "sparse.NAME.indices" + ".values" + ".offsets" (CSR's layout).
_NAMED = ("vector.", "multi.", "sparse.")


def _named_npz(arrays: dict[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """The named-vector columns of an .npz body (see :data:`_NAMED`)."""
    columns: dict[str, Any] = {}
    for key, array in arrays.items():
        kind, _, rest = key.partition(".")
        if kind == "vector":
            columns[rest] = array
            continue
        name, _, part = rest.rpartition(".")
        if not name or part not in ("rows", "offsets", "indices", "values"):
            raise SourceError(f"the .npz body's array {key!r} is not one of {_NAMED_FORMS}")
        if name in columns:
            continue
        try:
            spans = list(itertools.pairwise(arrays[f"{kind}.{name}.offsets"].tolist()))
            if kind == "multi":
                rows = arrays[f"multi.{name}.rows"]
                columns[name] = [rows[a:b] if b > a else None for a, b in spans]
            else:
                indices, values = arrays[f"sparse.{name}.indices"], arrays[f"sparse.{name}.values"]
                columns[name] = [(indices[a:b], values[a:b]) for a, b in spans]
        except KeyError as exc:
            raise SourceError(f"the .npz body's vector {name!r} lacks the array {exc}") from None
    return columns


_NAMED_FORMS = "vector.NAME, multi.NAME.rows/.offsets, sparse.NAME.indices/.values/.offsets"


def _arrow(body: bytes, limit: int) -> Arrays:
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is in the server and dev extras
        raise SourceError(
            "Arrow bodies need pyarrow on the server: pip install 'vecq[server]'"
        ) from None
    try:
        unpacked = arrow_size.unpacked_size(body)
    except Exception as exc:  # pyarrow's own errors, or a flatbuffer that does not walk
        raise SourceError(f"the body is not an Arrow IPC stream ({exc})") from None
    if unpacked > limit:
        raise SourceError(
            f"the Arrow body would unpack to {unpacked:,} bytes, more than the limit {limit:,} "
            "(vecq serve --max-body-mb); send it in parts"
        )
    try:
        table = pa.ipc.open_stream(body).read_all()
    except Exception as exc:  # pyarrow raises ArrowInvalid, ArrowTypeError, OSError, ...
        raise SourceError(f"the body is not an Arrow IPC stream ({exc})") from None
    names = table.schema.names
    for column in ("id", "vector"):
        if column not in names:
            raise SourceError(f"the Arrow body has no {column!r} column (columns: {names})")
    # One chunk per column after combining, so exactly one record batch (none if empty).
    batches = table.combine_chunks().to_batches()
    if not batches:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), None
    one = batches[0]
    try:
        ids = arrow_ids(one.column("id"), 0, "body")
        vectors = arrow_vectors(one.column("vector"), 0, "body")
        metadata = arrow_metadata(one, [c for c in names if c not in ("id", "vector")])
    except SourceError:
        raise
    except Exception as exc:  # a column of a type that does not convert
        raise SourceError(f"the Arrow body's columns cannot be read ({exc})") from None
    return ids, vectors, metadata
