"""A search of an index: its query vector, filter and fusion, checked before any engine sees it.

``Index.query`` builds a :class:`Search`; every engine answers it the same way (Edge in the
embedded service, qdrant-client's local mode, a server). What travels is plain data:

- a query vector, checked against the index's schema: a list of floats (the unnamed vector or
  a named dense one), a list of rows (a multivector) or ``{"indices", "values"}`` (sparse);
- a filter in Qdrant's own JSON form (``{"must": [{"key": "lang", "match": {"value": "en"}}]}``),
  checked by qdrant-client's models; or the short form ``{"lang": "en", "year": {"gte": 2020},
  "tag": ["a", "b"]}``: every field must match (a list matches any of its values, a dict of
  ``gt``/``gte``/``lt``/``lte`` is a range);
- hybrid search: :class:`Stage` prefetches (each its own vector, ``using``, limit and filter)
  fused by ``"rrf"`` (reciprocal rank fusion, k = 60 as Qdrant's default) or ``"dbsf"``, or
  rescored by the top-level vector.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecq.shared import keys
from vecq.shared.errors import InvalidQueryError
from vecq.shared.points import ids as idrules
from vecq.shared.points.vector_schema import MAX_SPARSE_INDEX, Schema, SparseSpec

FUSIONS = ("rrf", "dbsf")
# Qdrant's default k of reciprocal rank fusion (Edge wants it given: Fusion.Rrf(k=60)).
RRF_K = 60
# Most results one search returns, and most prefetches one search fuses.
MAX_LIMIT = 10_000
MAX_STAGES = 16
# Deepest nesting of a filter (clauses in clauses): far beyond any real filter, and a bound on
# what one request may ask the parsers to recurse through.
MAX_FILTER_DEPTH = 32
# The keys that make a filter dict Qdrant's own form rather than the short form.
_CLAUSES = frozenset({"must", "should", "must_not", "min_should"})
_RANGE = frozenset({"gt", "gte", "lt", "lte"})


@dataclass(frozen=True)
class Stage:
    """One prefetch of a hybrid search: the best ``limit`` points for ``vector`` (in the named
    vector ``using``) among those matching ``filter``."""

    vector: Any
    using: str | None = None
    limit: int = 100
    filter: dict[str, Any] | None = None


@dataclass(frozen=True)
class Search:
    """One checked search (see the module's docstring); ``vector`` is ``None`` when the
    prefetches are fused."""

    vector: Any = None
    using: str | None = None
    limit: int = 10
    filter: dict[str, Any] | None = None
    prefetch: list[Stage] = field(default_factory=list)
    fusion: str | None = None
    score_threshold: float | None = None
    with_vectors: bool = False

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Search:
        """A search from its fields as :func:`dataclasses.asdict` gives them (the wire form)."""
        stages = [Stage(**stage) for stage in value.get("prefetch") or []]
        return cls(**{**value, "prefetch": stages})


def build(
    schema: Schema | None,
    dimension: int,
    vector: Any = None,
    *,
    limit: int = 10,
    filter: Any = None,
    using: str | None = None,
    prefetch: Sequence[Any] | None = None,
    fusion: str | None = None,
    score_threshold: float | None = None,
    with_vectors: bool = False,
) -> Search:
    """Check a search against the index (``schema``, or one unnamed vector of ``dimension``)
    and return it; raises :class:`InvalidQueryError` saying what is wrong."""
    limit = _count(limit, "limit")
    stages = [_stage(schema, dimension, i, s) for i, s in enumerate(prefetch or [])]
    if len(stages) > MAX_STAGES:
        raise InvalidQueryError(f"a search fuses at most {MAX_STAGES} prefetches")
    if fusion is not None and fusion not in FUSIONS:
        raise InvalidQueryError(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
    if vector is None and not stages:
        raise InvalidQueryError("give a query vector, or prefetches to fuse")
    if vector is not None and fusion is not None:
        raise InvalidQueryError("give a query vector or a fusion, not both")
    if stages and vector is None:
        fusion = fusion or "rrf"
    if fusion is not None and len(stages) < 1:
        raise InvalidQueryError("a fusion needs prefetches to fuse")
    name, checked = (None, None) if vector is None else _vector(schema, dimension, using, vector)
    if score_threshold is not None:
        if isinstance(score_threshold, bool) or not isinstance(score_threshold, int | float):
            raise InvalidQueryError(f"score_threshold must be a number, not {score_threshold!r}")
        score_threshold = float(score_threshold)
    return Search(
        checked,
        name,
        limit,
        normalize_filter(filter),
        stages,
        fusion,
        score_threshold,
        bool(with_vectors),
    )


def normalize_filter(value: Any) -> dict[str, Any] | None:
    """A filter in Qdrant's JSON form, checked: from that form, the short form, or
    qdrant-client's ``models.Filter``. String ids in ``has_id`` become their UUIDs."""
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", exclude_none=True)
    if not isinstance(value, Mapping):
        raise InvalidQueryError(
            f"a filter is a dict (Qdrant's filter, or {{field: value}}), not {type(value).__name__}"
        )
    if not value:
        return None
    if _depth(value) > MAX_FILTER_DEPTH:
        raise InvalidQueryError(f"the filter nests deeper than {MAX_FILTER_DEPTH} levels")
    qdrant_form = dict(value) if _CLAUSES & set(value) else _short_form(value)
    from pydantic import ValidationError
    from qdrant_client import models

    try:
        checked = models.Filter.model_validate(qdrant_form)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if "[" not in str(p)) or "the top"
        message = f"the filter is not a Qdrant filter: at {where}: {first['msg']}"
        raise InvalidQueryError(message) from None
    filter_json: dict[str, Any] = checked.model_dump(mode="json", exclude_none=True, by_alias=True)
    with_ids: dict[str, Any] = _point_ids(filter_json)
    return with_ids


def _depth(value: Any) -> int:
    """How deeply ``value``'s dicts and lists nest (counted without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_FILTER_DEPTH:
            break
        children = node.values() if isinstance(node, Mapping) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, Mapping | list | tuple))
    return deepest


def _short_form(value: Mapping[str, Any]) -> dict[str, Any]:
    must = []
    for key, wanted in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidQueryError(f"a filter's field names are non-empty strings, not {key!r}")
        if isinstance(wanted, Mapping):
            if not wanted or not set(wanted) <= _RANGE:
                raise InvalidQueryError(
                    f"filter field {key!r}: a dict is a range of gt, gte, lt, lte; for more, "
                    "give Qdrant's filter form ({'must': [...]})"
                )
            must.append({"key": key, "range": dict(wanted)})
        elif isinstance(wanted, list | tuple):
            must.append({"key": key, "match": {"any": list(wanted)}})
        elif isinstance(wanted, str | int):
            must.append({"key": key, "match": {"value": wanted}})
        else:
            raise InvalidQueryError(
                f"filter field {key!r}: match a string, an integer or a bool, a list of them, "
                f"or a range dict; not {type(wanted).__name__}"
            )
    return {"must": must}


def _point_ids(node: Any) -> Any:
    """``has_id`` conditions with the caller's ids as Qdrant holds them (a string id is
    stored under its UUID)."""
    if isinstance(node, dict):
        out = {k: _point_ids(v) for k, v in node.items()}
        if isinstance(node.get("has_id"), list):
            out["has_id"] = [_point_id(i) for i in node["has_id"]]
        return out
    if isinstance(node, list):
        return [_point_ids(v) for v in node]
    return node


def _point_id(value: Any) -> int | str:
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))  # already a point's UUID
        except ValueError:
            return idrules.point_uuid(value)
    return int(value)


def _stage(schema: Schema | None, dimension: int, i: int, stage: Any) -> Stage:
    if isinstance(stage, Stage):
        given = {"vector": stage.vector, "using": stage.using, "limit": stage.limit}
        given["filter"] = stage.filter
    elif isinstance(stage, Mapping):
        unknown = set(stage) - {"vector", "using", "limit", "filter"}
        if unknown or "vector" not in stage:
            raise InvalidQueryError(
                f"prefetch[{i}] is {{'vector', 'using', 'limit', 'filter'}} (vector required)"
                + (f"; unknown: {', '.join(sorted(map(str, unknown)))}" if unknown else "")
            )
        given = dict(stage)
    else:
        raise InvalidQueryError(f"prefetch[{i}] is a dict or a Stage, not {type(stage).__name__}")
    try:
        using, vector = _vector(schema, dimension, given.get("using"), given["vector"])
        limit = _count(given.get("limit", 100), "limit")
        filter_json = normalize_filter(given.get("filter"))
    except InvalidQueryError as exc:
        raise InvalidQueryError(f"prefetch[{i}]: {exc}") from None
    return Stage(vector, using, limit, filter_json)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidQueryError(f"{what} must be an integer, not {value!r}")
    if not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidQueryError(f"{what} must be 1..{MAX_LIMIT}, not {value}")
    return int(value)


def _vector(schema: Schema | None, dimension: int, using: Any, vector: Any) -> tuple[Any, Any]:
    """``(using, vector)`` checked: the vector as plain lists, of the named vector ``using``."""
    if schema is None:
        if using is not None:
            raise InvalidQueryError(
                f"this index has one unnamed vector: leave using out (got {using!r})"
            )
        return None, _dense(vector, dimension, "the query vector")
    if using is None:
        if len(schema.dense) != 1 or schema.sparse:
            raise InvalidQueryError(
                f"this index has named vectors ({', '.join(schema.names)}): say which to "
                "search with using="
            )
        using = next(iter(schema.dense))
    spec = schema.spec(using) if isinstance(using, str) else None
    if spec is None:
        raise InvalidQueryError(
            f"this index has no vector {using!r}; it has {', '.join(schema.names)}"
        )
    what = f"the query vector {using!r}"
    if isinstance(spec, SparseSpec):
        return using, _sparse(vector, what)
    if spec.multivector:
        rows = _numbers(vector, 2, what)
        if rows.shape[0] == 0 or rows.shape[1] != spec.size:
            raise InvalidQueryError(
                f"{what} is a multivector: a non-empty list of {spec.size}-d rows, "
                f"got shape {rows.shape}"
            )
        return using, rows.tolist()
    return using, _dense(vector, spec.size, what)


def _dense(vector: Any, size: int, what: str) -> list[float]:
    values = _numbers(vector, 1, what)
    if values.shape[0] != size:
        raise InvalidQueryError(f"{what} has {values.shape[0]} values; the index's has {size}")
    floats: list[float] = values.tolist()
    return floats


def _numbers(vector: Any, ndim: int, what: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    try:
        array = np.asarray(vector)
    except (ValueError, TypeError):
        raise InvalidQueryError(f"{what} holds non-numbers") from None
    if array.dtype.kind not in "fiu" or array.ndim != ndim:
        shape = "a list of numbers" if ndim == 1 else "a list of rows of numbers"
        raise InvalidQueryError(f"{what} must be {shape} (not booleans or strings)")
    with np.errstate(over="ignore", invalid="ignore"):
        values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise InvalidQueryError(f"{what} holds NaN or infinity (after conversion to float32)")
    return values


def _sparse(vector: Any, what: str) -> dict[str, list[Any]]:
    if isinstance(vector, Mapping) and set(vector) == {"indices", "values"}:
        indices, values = vector["indices"], vector["values"]
    elif hasattr(vector, "indices") and hasattr(vector, "values"):
        indices, values = vector.indices, vector.values
    elif isinstance(vector, tuple | list) and len(vector) == 2:
        indices, values = vector
    else:
        raise InvalidQueryError(
            f"{what} is sparse: give {{'indices': [...], 'values': [...]}} or (indices, values)"
        )
    index_array = np.asarray(indices)
    if index_array.size == 0:
        raise InvalidQueryError(f"{what} is empty: give at least one index")
    if index_array.ndim != 1 or index_array.dtype.kind not in "iu":
        raise InvalidQueryError(f"{what}: indices must be integers")
    if int(index_array.min()) < 0 or int(index_array.max()) > MAX_SPARSE_INDEX:
        raise InvalidQueryError(f"{what} has an index outside 0..{MAX_SPARSE_INDEX}")
    if np.unique(index_array).size != index_array.size:
        raise InvalidQueryError(f"{what} repeats an index")
    weights = _numbers(values, 1, what)
    if weights.size != index_array.size:
        raise InvalidQueryError(f"{what} has {index_array.size} indices but {weights.size} values")
    return {"indices": index_array.tolist(), "values": weights.tolist()}


def caller_id(point_id: int | str, payload: Mapping[str, Any]) -> int | str:
    """The id the caller gave a point: a string id is kept in its payload beside its UUID."""
    name = payload.get(keys.PAYLOAD_ID)
    return name if isinstance(name, str) else point_id
