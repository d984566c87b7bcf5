"""Which columns of a file are the id, the vectors, the item and the metadata.

By default a file has an ``id`` column, a ``vector`` column (one unnamed vector) and, in
JSON Lines, ``item`` and ``metadata`` fields; every other column of a Parquet file is
metadata. ``vecq ingest --id-column doc_id --vector text=text_emb --sparse
bm25=bm25_idx,bm25_val --metadata-columns lang,year --item-column body`` maps other names,
and named vectors (dense, multi- or sparse) for an index that has them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vecq.shared.errors import SourceError


@dataclass(frozen=True)
class ColumnMap:
    """Where each part of a point comes from (the defaults: the library's own names: ``id``,
    ``vector``, ``item``, ``metadata``)."""

    id: str = "id"
    vector: str = "vector"
    """The unnamed vector's column (an index of one unnamed vector)."""
    named: tuple[tuple[str, str], ...] = ()
    """``(vector name, column)``: a named dense vector or multivector."""
    sparse: tuple[tuple[str, str, str], ...] = ()
    """``(vector name, indices column, values column)``: a named sparse vector."""
    metadata: tuple[str, ...] | None = None
    """The metadata columns; ``None``: every column not mapped to something else."""
    item: str | None = None

    @property
    def has_named(self) -> bool:
        return bool(self.named or self.sparse)

    @property
    def is_default(self) -> bool:
        return self == ColumnMap()

    def used(self) -> list[str]:
        """Every column mapped to an id, a vector or an item."""
        columns = [self.id, *(c for _, c in self.named)]
        columns += [c for _, i, v in self.sparse for c in (i, v)]
        if not self.has_named:
            columns.append(self.vector)
        return columns + ([self.item] if self.item else [])

    def key(self) -> str:
        """A stable text for resume fingerprints (empty for the defaults, as before)."""
        return "" if self.is_default else json.dumps(asdict(self), sort_keys=True)

    def check(self, names: Sequence[str], where: object) -> list[str]:
        """Raise unless every mapped column is in ``names``; return the metadata columns."""
        wanted = self.used() + list(self.metadata or ())
        for column in wanted:
            if column not in names:
                hint = ""
                if column == "vector" and not self.has_named:
                    hint = (
                        "; name the vector column with --vector-column COL, or for an index of "
                        "named vectors map each with --vector NAME=COL and --sparse "
                        "NAME=INDICES,VALUES"
                    )
                raise SourceError(
                    f"{where}: column {column!r} is missing (columns: {list(names)}){hint}"
                )
        if self.metadata is not None:
            return list(self.metadata)
        return [c for c in names if c not in self.used()]

    def record(self, raw: dict[str, Any], where: str) -> dict[str, Any]:
        """A JSON Lines record in the library's dict form from one with mapped fields (a named
        vector's field may be missing or null: the point leaves that vector out)."""
        required = [self.id] if self.has_named else [self.id, self.vector]
        for column in required:  # a named vector may be left out, as an item may
            if column not in raw:
                raise SourceError(f"{where}: field {column!r} is missing")
        out: dict[str, Any] = {"id": raw[self.id]}
        if self.has_named:
            vector = {
                name: raw[column] for name, column in self.named if raw.get(column) is not None
            }
            for name, indices, values in self.sparse:
                if raw.get(indices) is not None or raw.get(values) is not None:
                    vector[name] = {"indices": raw.get(indices), "values": raw.get(values)}
            out["vector"] = vector
        else:
            out["vector"] = raw[self.vector]
        if self.item and raw.get(self.item) is not None:
            out["item"] = raw[self.item]
        if self.metadata is not None:
            meta = {c: raw[c] for c in self.metadata if raw.get(c) is not None}
            if meta:
                out["metadata"] = meta
        elif raw.get("metadata") is not None:
            out["metadata"] = raw["metadata"]
        return out


def from_flags(
    id_column: str | None = None,
    vector_column: str | None = None,
    vectors: Sequence[str] = (),
    sparse: Sequence[str] = (),
    metadata_columns: str | None = None,
    item_column: str | None = None,
) -> ColumnMap:
    """The map ``vecq ingest``'s flags describe; a malformed flag raises ``SourceError``."""
    named = []
    for flag in vectors:
        name, _, column = flag.partition("=")
        if not name or not column:
            raise SourceError(f"--vector {flag!r}: use NAME=COLUMN, e.g. text=text_emb")
        named.append((name, column))
    pairs = []
    for flag in sparse:
        name, _, columns = flag.partition("=")
        indices, _, values = columns.partition(",")
        if not name or not indices or not values or "," in values:
            raise SourceError(
                f"--sparse {flag!r}: use NAME=INDICES_COLUMN,VALUES_COLUMN, e.g. bm25=bm25_i,bm25_v"
            )
        pairs.append((name, indices, values))
    given = [name for name, _ in named] + [name for name, _, _ in pairs]
    twice = sorted({name for name in given if given.count(name) > 1})
    if twice:
        raise SourceError(
            f"vector {twice[0]!r} is mapped twice (--vector/--sparse {twice[0]}=...): give "
            "each named vector one column"
        )
    if (named or pairs) and vector_column:
        raise SourceError("--vector-column is the one unnamed vector; named vectors use --vector")
    metadata = None
    if metadata_columns is not None:
        metadata = tuple(c for c in metadata_columns.split(",") if c)
    return ColumnMap(
        id=id_column or "id",
        vector=vector_column or "vector",
        named=tuple(named),
        sparse=tuple(pairs),
        metadata=metadata,
        item=item_column,
    )


def check_sources(sources: Sequence[Any], schema: Any) -> None:
    """:func:`check_against` for the column map of each source that has one."""
    for source in sources:
        mapping = getattr(source, "mapping", None)
        if isinstance(mapping, ColumnMap):
            check_against(mapping, schema)


def check_against(mapping: ColumnMap, schema: Any) -> None:
    """Refuse, once and before anything is read, a map naming vectors the index (its
    ``schema``: a :class:`~vecq.shared.points.vector_schema.Schema`, or ``None`` for one unnamed
    vector) does not have, or of the wrong kind (a sparse vector given by ``--vector``)."""
    if not mapping.has_named:
        return
    if schema is None:
        raise SourceError(
            "--vector/--sparse map named vectors, but this index has one unnamed vector: "
            "name its column with --vector-column COL"
        )
    for name, _ in mapping.named:
        if name in schema.sparse:
            raise SourceError(f"--vector {name}=...: {name!r} is sparse: map it with --sparse")
        if name not in schema.dense:
            raise SourceError(
                f"--vector {name}=...: this index has no vector {name!r}; it has "
                f"{', '.join(schema.names)}"
            )
    for name, _, _ in mapping.sparse:
        if name not in schema.sparse:
            kind = "dense: map it with --vector" if name in schema.dense else "no such vector"
            raise SourceError(
                f"--sparse {name}=...: {name!r} is {kind} (this index has "
                f"{', '.join(schema.names)})"
            )
