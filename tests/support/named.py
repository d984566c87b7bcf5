"""The named-vector schema the named-vector tests share: dense, multi and sparse vectors."""

from __future__ import annotations

from vecq import SparseSpec, VectorSpec

SCHEMA = {
    "text": VectorSpec(4, "dot"),
    "image": VectorSpec(3, "dot"),
    "colbert": VectorSpec(2, "dot", multivector=True),
}
SPARSE = {"bm25": SparseSpec(modifier="idf"), "splade": SparseSpec()}
