"""The named vectors of an index: dense ones (one vector, or a multivector of rows) and sparse.

An index created with ``dimension=`` holds one unnamed dense vector per point, as vecq always
did. An index created with ``vectors=`` and/or ``sparse_vectors=`` holds named vectors: each
point carries any of them (a point may leave one out, as Qdrant allows), each checked
against its own spec. The schema is recorded in the registry entry and never changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vecq.shared.errors import InvalidIndexError

METRICS = ("cosine", "dot", "euclid", "manhattan")
MODIFIERS = ("idf",)
MAX_DIMENSION = 65536
MAX_VECTORS = 16
# Sparse indices are uint32 in Qdrant.
MAX_SPARSE_INDEX = 2**32 - 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

Kind = Literal["dense", "multi", "sparse"]


@dataclass(frozen=True)
class VectorSpec:
    """A named dense vector: ``size`` components compared by ``distance``; with
    ``multivector=True`` each point holds a non-empty list of such rows (late interaction,
    ColBERT-style), compared by MaxSim."""

    size: int
    distance: str = "cosine"
    multivector: bool = False

    @property
    def kind(self) -> Kind:
        return "multi" if self.multivector else "dense"


@dataclass(frozen=True)
class SparseSpec:
    """A named sparse vector (indices and values); ``modifier="idf"`` makes Qdrant weigh it
    by inverse document frequency (BM25-style)."""

    modifier: str | None = None

    @property
    def kind(self) -> Kind:
        return "sparse"


Spec = VectorSpec | SparseSpec


@dataclass(frozen=True)
class Schema:
    """Every named vector of an index, dense and sparse, by name."""

    dense: Mapping[str, VectorSpec]
    sparse: Mapping[str, SparseSpec]

    def spec(self, name: str) -> Spec | None:
        """The spec of the vector ``name`` (None if the index has none of that name)."""
        return self.dense.get(name) or self.sparse.get(name)

    @property
    def names(self) -> list[str]:
        return [*self.dense, *self.sparse]

    def describe(self) -> str:
        """One line per vector, as ``vecq index describe`` shows them."""
        parts = [
            f"{n}: {s.size}-d {s.distance}{' multivector' if s.multivector else ''}"
            for n, s in self.dense.items()
        ]
        parts += [
            f"{n}: sparse{f' ({s.modifier})' if s.modifier else ''}" for n, s in self.sparse.items()
        ]
        return "; ".join(parts)

    def to_json(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The registry's form: ``(vectors, sparse_vectors)`` as plain dicts."""
        dense = {
            n: {"size": s.size, "distance": s.distance, "multivector": s.multivector}
            for n, s in self.dense.items()
        }
        sparse = {n: {"modifier": s.modifier} for n, s in self.sparse.items()}
        return dense, sparse

    @staticmethod
    def from_json(dense: Mapping[str, Any] | None, sparse: Mapping[str, Any] | None) -> Schema:
        return Schema(
            {
                n: VectorSpec(int(s["size"]), str(s["distance"]), bool(s.get("multivector")))
                for n, s in (dense or {}).items()
            },
            {n: SparseSpec(s.get("modifier")) for n, s in (sparse or {}).items()},
        )


def parse(vectors: Any, sparse_vectors: Any) -> Schema:
    """Check ``create_index``'s ``vectors=`` and ``sparse_vectors=`` and return the schema.

    ``vectors`` maps names to :class:`VectorSpec` (or ``{"size", "distance", "multivector"}``
    dicts); ``sparse_vectors`` maps names to :class:`SparseSpec` (or dicts, or ``None``).
    Raises :class:`InvalidIndexError` naming the vector at fault.
    """
    dense = {name: _dense(name, spec) for name, spec in _mapping(vectors, "vectors").items()}
    sparse = {
        name: _sparse(name, spec)
        for name, spec in _mapping(sparse_vectors, "sparse_vectors").items()
    }
    for name in sparse:
        if name in dense:
            raise InvalidIndexError(f"vector {name!r} is both dense and sparse: name them apart")
    if not dense and not sparse:
        raise InvalidIndexError("an index needs at least one vector: give vectors= or dimension=")
    if len(dense) + len(sparse) > MAX_VECTORS:
        raise InvalidIndexError(f"an index holds at most {MAX_VECTORS} named vectors")
    return Schema(dense, sparse)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidIndexError(
            f"vector name {name!r} is invalid: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidIndexError(
            f"{what} must be a dict of vector name to spec, got {type(value).__name__}"
        )
    for name in value:
        check_name(name)
    return value


def _dense(name: str, spec: Any) -> VectorSpec:
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"size", "distance", "multivector"}
        if unknown or "size" not in spec:
            raise InvalidIndexError(
                f"vector {name!r}: a spec dict has 'size' and optionally 'distance' and "
                f"'multivector' (got {sorted(map(str, spec))})"
            )
        spec = VectorSpec(
            spec["size"], spec.get("distance", "cosine"), spec.get("multivector", False)
        )
    if not isinstance(spec, VectorSpec):
        raise InvalidIndexError(f"vector {name!r}: expected a VectorSpec, got {spec!r}")
    size = spec.size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_DIMENSION:
        raise InvalidIndexError(
            f"vector {name!r}: size must be an int in 1..{MAX_DIMENSION}, got {size!r}"
        )
    if spec.distance not in METRICS:
        raise InvalidIndexError(
            f"vector {name!r}: distance must be one of {', '.join(METRICS)}, got {spec.distance!r}"
        )
    if not isinstance(spec.multivector, bool):
        raise InvalidIndexError(f"vector {name!r}: multivector must be True or False")
    return spec


def _sparse(name: str, spec: Any) -> SparseSpec:
    if spec is None:
        return SparseSpec()
    if isinstance(spec, Mapping):
        if set(spec) - {"modifier"}:
            raise InvalidIndexError(f"vector {name!r}: a sparse spec dict has only 'modifier'")
        spec = SparseSpec(spec.get("modifier"))
    if not isinstance(spec, SparseSpec):
        raise InvalidIndexError(f"vector {name!r}: expected a SparseSpec, got {spec!r}")
    if spec.modifier is not None and spec.modifier not in MODIFIERS:
        raise InvalidIndexError(
            f"vector {name!r}: modifier must be None or one of {', '.join(MODIFIERS)}, "
            f"got {spec.modifier!r}"
        )
    return spec


def parse_vector_flag(flag: str) -> tuple[str, VectorSpec]:
    """``NAME:SIZE[:DISTANCE][:multi]`` (``vecq index create --vector``) as a named spec."""
    parts = flag.split(":")
    multivector = parts[-1] == "multi"
    if multivector:
        parts = parts[:-1]
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise InvalidIndexError(
            f"--vector {flag!r}: use NAME:SIZE[:DISTANCE][:multi], e.g. text:768:cosine or "
            "colbert:128:cosine:multi"
        )
    name = check_name(parts[0])
    spec = VectorSpec(int(parts[1]), parts[2] if len(parts) == 3 else "cosine", multivector)
    return name, _dense(name, spec)


def parse_sparse_flag(flag: str) -> tuple[str, SparseSpec]:
    """``NAME[:idf]`` (``vecq index create --sparse``) as a named sparse spec."""
    name, _, modifier = flag.partition(":")
    check_name(name)
    return name, _sparse(name, SparseSpec(modifier or None))


def index_shape(
    dimension: int | None, vectors: Any, sparse_vectors: Any
) -> tuple[int, Schema | None]:
    """``(dimension, schema)`` of a new index: one unnamed vector, or named ones (then 0)."""
    if vectors is not None or sparse_vectors is not None:
        if dimension is not None:
            raise TypeError(
                "create_index() takes dimension= (one unnamed vector) or vectors=/"
                "sparse_vectors= (named vectors), not both"
            )
        return 0, parse(vectors, sparse_vectors)
    if dimension is None:
        raise TypeError("create_index() needs dimension= (or named vectors: vectors=)")
    return dimension, None
