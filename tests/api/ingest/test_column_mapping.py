"""Column mapping of Parquet and JSON Lines files: ids, named vectors, items, metadata."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vecq import Client, Index, SparseSpec, VectorSpec
from vecq.api.ingest.backfill import ingest
from vecq.api.ingest.mapping import ColumnMap, from_flags
from vecq.api.ingest.sources.files import open_sources
from vecq.api.ingest.verify import verify
from vecq.shared.errors import SourceError

MAPPING = from_flags(
    "doc_id", None, ["text=emb", "late=tokens"], ["bm25=bm_i,bm_v"], "lang", "body"
)


@pytest.fixture
def docs(client: Client, key: bytes) -> Index:
    return client.create_index(
        f"m-{uuid.uuid4().hex[:10]}",
        key,
        shards=2,
        vectors={"text": VectorSpec(3, "dot"), "late": VectorSpec(2, "dot", multivector=True)},
        sparse_vectors={"bm25": SparseSpec()},
    )


def table(n: int) -> pa.Table:
    return pa.table(
        {
            "doc_id": [f"d{i}" for i in range(n)],
            "emb": [[float(i), 1.0, 2.0] for i in range(n)],
            "tokens": [[[float(i), 0.0]] * (i % 3 + 1) if i % 4 else None for i in range(n)],
            "bm_i": [[i, i + 100] for i in range(n)],
            "bm_v": [[0.5, float(i)] for i in range(n)],
            "body": [f"text {i}".encode() for i in range(n)],
            "lang": ["en" if i % 2 else "fr" for i in range(n)],
            "ignored": list(range(n)),
        }
    )


def test_parquet_columns_map_to_named_vectors_items_and_metadata(
    docs: Index, tmp_path: Path
) -> None:
    path = tmp_path / "docs.parquet"
    pq.write_table(table(30), path, row_group_size=7)
    report = ingest(docs, open_sources([str(path)], mapping=MAPPING), chunk_rows=8)
    for job in report.jobs:
        job.wait(30)
    got = {p["id"]: p for p in docs.get([f"d{i}" for i in range(30)])}
    assert len(got) == 30
    assert got["d5"]["vector"] == {
        "text": [5.0, 1.0, 2.0],
        "late": [[5.0, 0.0]] * 3,
        "bm25": {"indices": [5, 105], "values": [0.5, 5.0]},
    }
    assert "late" not in got["d4"]["vector"]  # a null: the point leaves it out
    assert got["d5"]["item"] == b"text 5"
    assert got["d5"]["metadata"] == {"lang": "en"}  # only the columns asked for
    checked = verify(docs, open_sources([str(path)], mapping=MAPPING), chunk_rows=8)
    assert checked.ok and checked.matching == 30
    docs.upsert([{"id": "d7", "vector": {"text": [0.0, 0.0, 0.0]}}])
    stale = verify(docs, open_sources([str(path)], mapping=MAPPING), chunk_rows=8, repair=True)
    assert stale.stale == ["d7"] and stale.repaired == 1
    for job in stale.jobs:
        job.wait(30)
    assert docs.get(["d7"])[0]["vector"]["bm25"] == {"indices": [7, 107], "values": [0.5, 7.0]}


def test_json_lines_fields_are_mapped_the_same_way(docs: Index, tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    lines = [
        {
            "doc_id": "a",
            "emb": [1, 2, 3],
            "bm_i": [4],
            "bm_v": [0.25],
            "lang": "en",
            "body": base64.b64encode(b"A").decode(),
            "other": 1,
        },
        {"doc_id": "b", "tokens": [[1, 2], [3, 4]]},
        {"op": "delete", "doc_id": "zzz"},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    for job in ingest(docs, open_sources([str(path)], mapping=MAPPING)).jobs:
        job.wait(30)
    got = {p["id"]: p for p in docs.get(["a", "b"])}
    assert got["a"]["vector"] == {"text": [1, 2, 3], "bm25": {"indices": [4], "values": [0.25]}}
    assert (got["a"]["item"], got["a"]["metadata"]) == (b"A", {"lang": "en"})
    assert got["b"]["vector"] == {"late": [[1, 2], [3, 4]]}


def test_a_different_mapping_is_a_different_run(docs: Index, tmp_path: Path) -> None:
    """Resume state is per mapping: the same file under new flags is read again."""
    path = tmp_path / "docs.parquet"
    pq.write_table(table(5), path)
    first = open_sources([str(path)], mapping=MAPPING)[0]
    other = from_flags("doc_id", None, ["text=emb"], [], None, None)
    assert first.fingerprint(100) != open_sources([str(path)], mapping=other)[0].fingerprint(100)
    plain = pa.table({"id": [1], "vector": [[1.0, 2.0]]})
    pq.write_table(plain, tmp_path / "plain.parquet")
    default = open_sources([str(tmp_path / "plain.parquet")])[0]
    mapped = open_sources([str(tmp_path / "plain.parquet")], mapping=ColumnMap())[0]
    assert default.fingerprint(100) == mapped.fingerprint(100)  # older runs still resume


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"vectors": ["text"]}, r"--vector 'text': use NAME=COLUMN"),
        ({"sparse": ["bm25=only"]}, r"--sparse 'bm25=only': use NAME=INDICES_COLUMN,VALUES"),
        ({"vector_column": "v", "vectors": ["a=b"]}, r"--vector-column is the one unnamed"),
    ],
)
def test_malformed_flags_say_how(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(SourceError, match=message):
        from_flags(**flags)


def test_a_missing_column_or_a_bad_value_names_file_and_row(docs: Index, tmp_path: Path) -> None:
    path = tmp_path / "docs.parquet"
    pq.write_table(table(3).drop_columns(["bm_v"]), path)
    with pytest.raises(SourceError, match=r"docs.parquet: column 'bm_v' is missing"):
        open_sources([str(path)], mapping=MAPPING)
    bad = table(3).set_column(1, "emb", pa.array([[1.0, 2.0, 3.0], [1.0, 2.0], [1.0, 0, 0]]))
    pq.write_table(bad, path)
    with pytest.raises(SourceError, match=r"row 1 \(id 'd1'\): vector 'text' has 2 dimensions"):
        ingest(docs, open_sources([str(path)], mapping=MAPPING))
    np.save(tmp_path / "v.npy", np.ones((2, 3)))
    with pytest.raises(SourceError, match=r"npy: column flags apply to Parquet and JSON Lines"):
        open_sources([str(tmp_path / "v.npy")], mapping=MAPPING)


def test_a_vector_mapped_twice_is_refused() -> None:
    """A repeated ``--vector NAME=...`` would silently keep the last column: it is refused."""
    with pytest.raises(SourceError, match=r"vector 'text' is mapped twice"):
        from_flags(vectors=["text=a", "text=b"])
    with pytest.raises(SourceError, match=r"vector 'bm25' is mapped twice"):
        from_flags(vectors=["bm25=a"], sparse=["bm25=i,v"])


def test_a_map_the_index_cannot_take_is_refused_once_before_reading(
    docs: Index, make_index: Any, tmp_path: Path
) -> None:
    """Named vectors the index lacks, a sparse vector given as dense, or named vectors for an
    index of one unnamed vector: one error in the CLI's words, before a chunk is read."""
    path = tmp_path / "docs.parquet"
    pq.write_table(table(3), path)
    cases = [
        (from_flags("doc_id", None, ["title=emb"]), docs, r"--vector title=\.\.\.: this index has"),
        (from_flags("doc_id", None, ["bm25=emb"]), docs, r"'bm25' is sparse: map it with --sparse"),
        (from_flags("doc_id", None, [], ["text=bm_i,bm_v"]), docs, r"'text' is dense"),
        (MAPPING, make_index(dimension=3), r"one unnamed vector: name its column with"),
    ]
    for flags, index, message in cases:
        sources = open_sources([str(path)], mapping=flags)
        with pytest.raises(SourceError, match=message):
            ingest(index, sources)
        with pytest.raises(SourceError, match=message):
            verify(index, sources)
    assert docs.count() == 0


def test_a_missing_vector_column_says_which_flag_names_it(tmp_path: Path) -> None:
    path = tmp_path / "emb.parquet"
    pq.write_table(pa.table({"id": [1], "embedding": [[1.0, 2.0]]}), path)
    with pytest.raises(SourceError, match=r"column 'vector' is missing .*--vector-column COL"):
        open_sources([str(path)])


def test_a_null_inside_a_vector_is_named_not_read_as_nan(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    path = tmp_path / "holes.parquet"
    vectors = pa.array([[1.0, 2.0, 3.0], [4.0, None, 6.0]], pa.list_(pa.float32()))
    pq.write_table(pa.table({"id": [1, 2], "vector": vectors}), path)
    index = make_index(dimension=3, shards=1)
    with pytest.raises(SourceError, match=r"holes\.parquet.*row 1: field 'vector' holds a null at"):
        ingest(index, open_sources([str(path)]))
    assert index.count() == 0


def test_ids_counted_from_id_start_never_pass_the_largest_id(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.ones((10, 3), np.float32))
    with pytest.raises(SourceError, match=r"v\.npy: row 5 would be id 2\*\*63: .*--id-start"):
        open_sources([str(tmp_path / "v.npy")], id_start=2**63 - 5)
    with pytest.raises(SourceError, match=r"--id-start -1: ids are 0 <= id < 2\*\*63"):
        open_sources([str(tmp_path / "v.npy")], id_start=-1)
    (last,) = open_sources([str(tmp_path / "v.npy")], id_start=2**63 - 10)
    assert last.total() == 10
