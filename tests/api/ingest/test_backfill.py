"""`vecq ingest` on real Redis, a real worker and local-mode Qdrant: formats, errors, resume."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis

from tests.support.snapshots import snapshot
from vecq import Index
from vecq.api.ingest.backfill import ingest
from vecq.api.ingest.sources.files import open_sources
from vecq.shared import keys
from vecq.shared.errors import SourceError


def _npy(tmp_path: Path, n: int, dim: int, seed: int = 0) -> tuple[Path, np.ndarray]:
    vectors = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    path = tmp_path / f"vectors-{seed}.npy"
    np.save(path, vectors)
    return path, vectors


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _wait(report: object) -> None:
    for job in report.jobs:  # type: ignore[attr-defined]
        job.wait(60)


def test_npy_with_an_ids_file_round_trips(make_index: Callable[..., Index], tmp_path: Path) -> None:
    """A vectors .npy and an ids .npy: every vector stored under its id, in several chunks."""
    index = make_index(dimension=8, shards=2)
    path, vectors = _npy(tmp_path, 1_000, 8)
    ids = np.arange(1_000, dtype=np.int64) * 3 + 7
    np.save(tmp_path / "ids.npy", ids)
    report = ingest(index, open_sources([str(path)], str(tmp_path / "ids.npy")), chunk_rows=300)
    _wait(report)
    assert (report.chunks, report.vectors) == (4, 1_000)
    assert index.count() == 1_000
    got = index.get([int(ids[0]), int(ids[999])])
    np.testing.assert_array_equal([p["vector"] for p in got], vectors[[0, 999]])


def test_ids_counted_from_a_start_continue_across_files(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """Two .npy files with --id-start: the second file's ids follow the first's."""
    index = make_index(dimension=4, shards=2)
    first, a = _npy(tmp_path, 100, 4, seed=1)
    second, b = _npy(tmp_path, 50, 4, seed=2)
    _wait(ingest(index, open_sources([str(first), str(second)], id_start=500)))
    assert index.count() == 150
    got = index.get([500, 599, 600, 649])
    np.testing.assert_array_equal([p["vector"] for p in got], [a[0], a[99], b[0], b[49]])


def test_jsonl_directory_with_items_and_metadata(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """A directory of JSON Lines files in the seed format: items (base64) and metadata intact."""
    index = make_index(dimension=3, shards=2)
    folder = tmp_path / "dump"
    folder.mkdir()
    for part in range(2):
        rows = [
            {
                "id": part * 10 + i,
                "vector": [float(i), 1.0, 2.0],
                "item": base64.b64encode(f"doc-{part}-{i}".encode()).decode(),
                "metadata": {"part": part, "lang": "en"},
            }
            for i in range(10)
        ]
        _jsonl(folder / f"part-{part}.jsonl", rows)
    (folder / "notes.txt").write_text("not data")
    _wait(ingest(index, open_sources([str(folder)]), chunk_rows=4))
    assert index.count() == 20
    (point,) = index.get([13])
    assert point["item"] == b"doc-1-3"
    assert point["metadata"] == {"part": 1, "lang": "en"}
    assert point["vector"] == [3.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"id": 6, "vector": [1, 2, 3], "item": "not base64!"}', "line 7: field 'item' is not"),
        ('{"id": 6, "vector": [1, 2]}', "line 7 (id 6): vector has 2 dimensions"),
        ('{"id": 6, "vector": [1, 2, NaN]}', "line 7 (id 6): vector holds NaN"),
        ('{"id": -6, "vector": [1, 2, 3]}', "line 7: id -6 is outside"),
        ('{"vector": [1, 2, 3]}', "line 7: field 'id' is missing"),
        (
            '{"id": 6, "vector": [1, 2, 3], "metadata": {"a": {"_vecq_x": 1}}}',
            "line 7 (id 6): metadata",
        ),
        ("{not json", "line 7: not valid JSON"),
    ],
)
def test_a_malformed_line_is_named_and_its_chunk_not_enqueued(
    make_index: Callable[..., Index], tmp_path: Path, r: redis.Redis, line: str, expected: str
) -> None:
    """The error names the file, the line and the field; nothing of that chunk reaches Redis."""
    index = make_index(dimension=3, shards=1)
    good = [json.dumps({"id": i, "vector": [1.0, 2.0, 3.0]}) for i in range(9)]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*good[:5], "", line, *good[5:]]) + "\n")  # line 6 blank
    before = snapshot(r)
    with pytest.raises(SourceError) as caught:
        ingest(index, open_sources([str(path)]), chunk_rows=100)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)
    assert snapshot(r) == before
    assert isinstance(caught.value, ValueError)


def test_nan_in_a_large_npy_names_the_file_row(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """A NaN at row 2,345 is reported as that row of that file, after earlier chunks went in."""
    index = make_index(dimension=4, shards=1)
    path, vectors = _npy(tmp_path, 3_000, 4)
    vectors[2_345, 1] = np.nan
    np.save(path, vectors)
    with pytest.raises(SourceError, match=rf"{path.name}: row 2345 \(id 2345\): vector holds NaN"):
        ingest(index, open_sources([str(path)]), chunk_rows=1_000)


def test_a_rerun_skips_committed_chunks_and_finishes_the_rest(
    make_index: Callable[..., Index], tmp_path: Path, r: redis.Redis
) -> None:
    """Interrupted after two of five chunks, the same ingest resumes at the third."""
    index = make_index(dimension=4, shards=2)
    path, _ = _npy(tmp_path, 500, 4)
    seen = [0]

    def crash_after_two(n: int) -> None:
        seen[0] += 1
        if seen[0] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(index, open_sources([str(path)]), chunk_rows=100, on_progress=crash_after_two)
    again = ingest(index, open_sources([str(path)]), chunk_rows=100)
    _wait(again)
    assert (again.skipped_chunks, again.skipped_vectors, again.vectors) == (2, 200, 300)
    assert index.count() == 500
    third = ingest(index, open_sources([str(path)]), chunk_rows=100)
    assert (third.skipped_chunks, third.vectors, third.jobs) == (5, 0, [])


def test_a_changed_file_is_read_again(make_index: Callable[..., Index], tmp_path: Path) -> None:
    """Rewriting the file changes its fingerprint: nothing is skipped, the new vectors win."""
    index = make_index(dimension=4, shards=1)
    path, _ = _npy(tmp_path, 50, 4, seed=1)
    _wait(ingest(index, open_sources([str(path)])))
    vectors = np.full((50, 4), 9.0, dtype=np.float32)
    np.save(path, vectors)
    os.utime(path, ns=(1, 10**18))
    again = ingest(index, open_sources([str(path)]))
    _wait(again)
    assert again.skipped_chunks == 0
    assert index.get([7])[0]["vector"] == [9.0] * 4


def test_unknown_files_and_empty_globs_are_clear_errors(tmp_path: Path) -> None:
    """A file of another type, a glob matching nothing, an ids file of the wrong length."""
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(SourceError, match=r"unsupported file type \.csv"):
        open_sources([str(tmp_path / "x.csv")])
    with pytest.raises(SourceError, match="no file matches"):
        open_sources([str(tmp_path / "*.npy")])
    path, _ = _npy(tmp_path, 10, 4)
    np.save(tmp_path / "ids.npy", np.arange(9))
    with pytest.raises(SourceError, match="one per row"):
        open_sources([str(path)], str(tmp_path / "ids.npy"))


def test_float_ids_blame_the_ids_file(tmp_path: Path) -> None:
    """Float ids in the --ids file are named as that file's fault, not the vectors'."""
    path, _ = _npy(tmp_path, 10, 4)
    np.save(tmp_path / "i.npy", np.arange(10, dtype=np.float64))
    with pytest.raises(SourceError) as caught:
        open_sources([str(path)], str(tmp_path / "i.npy"))
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "i.npy")) and "float64" in message
    (tmp_path / "broken.npy").write_bytes(b"not npy")
    with pytest.raises(SourceError, match=r"broken\.npy: not a readable \.npy"):
        open_sources([str(path)], str(tmp_path / "broken.npy"))


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_is_streamed_with_or_without_ids(
    make_index: Callable[..., Index], tmp_path: Path, compressed: bool
) -> None:
    """An .npz with ids and vectors (compressed or not) is read in chunks; without ids, counted."""
    index = make_index(dimension=4, shards=2)
    vectors = np.random.default_rng(5).standard_normal((700, 4), dtype=np.float32)
    ids = np.arange(700, dtype=np.int64) + 10_000
    save = np.savez_compressed if compressed else np.savez
    save(tmp_path / "with-ids.npz", ids=ids, vectors=vectors)
    save(tmp_path / "no-ids.npz", vectors=vectors[:50])
    report = ingest(index, open_sources([str(tmp_path / "with-ids.npz")]), chunk_rows=256)
    _wait(report)
    assert report.chunks == 3
    _wait(ingest(index, open_sources([str(tmp_path / "no-ids.npz")], id_start=1)))
    assert index.count() == 750
    got = index.get([10_699, 50])
    np.testing.assert_array_equal([p["vector"] for p in got], vectors[[699, 49]])
    np.savez(tmp_path / "wrong.npz", embeddings=vectors)
    with pytest.raises(SourceError, match=r"needs an array named 'vectors'.*embeddings"):
        open_sources([str(tmp_path / "wrong.npz")])


def test_parquet_vectors_and_metadata_columns(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """Parquet: id and vector columns; every other column becomes metadata (nulls left out)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    index = make_index(dimension=3, shards=2)
    table = pa.table(
        {
            "id": pa.array(range(100), pa.int64()),
            "vector": pa.array([[float(i), 0.5, 1.0] for i in range(100)], pa.list_(pa.float32())),
            "lang": ["en" if i % 2 else None for i in range(100)],
            "year": list(range(1900, 2000)),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=30)
    report = ingest(index, open_sources([str(tmp_path / "t.parquet")]), chunk_rows=40)
    _wait(report)
    assert (report.chunks, index.count()) == (3, 100)
    odd, even = index.get([41, 42])
    assert odd["metadata"] == {"lang": "en", "year": 1941}
    assert even["metadata"] == {"year": 1942}
    assert odd["vector"] == [41.0, 0.5, 1.0]


def test_parquet_errors_name_the_row_and_field(
    tmp_path: Path, make_index: Callable[..., Index]
) -> None:
    """Ragged vectors, a null id, a missing column, a reserved metadata key: file, row, field."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    index = make_index(dimension=2, shards=1)
    ragged = pa.table({"id": [1, 2, 3], "vector": [[1.0, 2.0], [1.0, 2.0], [1.0]]})
    pq.write_table(ragged, tmp_path / "ragged.parquet")
    with pytest.raises(SourceError, match=r"ragged.parquet: row 2: field 'vector' has 1 values"):
        ingest(index, open_sources([str(tmp_path / "ragged.parquet")]))
    nulls = pa.table({"id": [1, None], "vector": [[1.0, 2.0], [1.0, 2.0]]})
    pq.write_table(nulls, tmp_path / "nulls.parquet")
    with pytest.raises(SourceError, match=r"row 1: field 'id' is null"):
        ingest(index, open_sources([str(tmp_path / "nulls.parquet")]))
    pq.write_table(pa.table({"id": [1]}), tmp_path / "novec.parquet")
    with pytest.raises(SourceError, match="column 'vector' is missing"):
        open_sources([str(tmp_path / "novec.parquet")])
    reserved = pa.table({"id": [1, 2], "vector": [[1.0, 2.0]] * 2, "_vecq_x": ["a", "b"]})
    pq.write_table(reserved, tmp_path / "reserved.parquet")
    with pytest.raises(SourceError, match=r"reserved.parquet: row 0 \(id 1\): metadata key"):
        ingest(index, open_sources([str(tmp_path / "reserved.parquet")]))


def test_another_chunk_size_is_refused_not_silently_read_again(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """Resume state is per chunk size: a run with another size names the one to resume with
    (the command's behaviour); --restart (resume=False) reads it again in the new size; a
    run that names no size resumes in the earlier run's (a changed default cannot restart)."""
    index = make_index(dimension=4, shards=2)
    path, _ = _npy(tmp_path, 300, 4)
    _wait(ingest(index, open_sources([str(path)]), chunk_rows=100, same_chunking=True))
    with pytest.raises(SourceError, match=r"chunks of 100 records; run with --chunk-rows 100"):
        ingest(index, open_sources([str(path)]), chunk_rows=64, same_chunking=True)
    same = ingest(index, open_sources([str(path)]), chunk_rows=100, same_chunking=True)
    assert (same.skipped_vectors, same.vectors) == (300, 0)
    again = ingest(
        index, open_sources([str(path)]), chunk_rows=64, resume=False, same_chunking=True
    )
    _wait(again)
    assert again.vectors == 300 and index.count() == 300
    later = ingest(index, open_sources([str(path)]), chunk_rows=64, same_chunking=True)
    assert later.skipped_vectors == 300  # the new size is now the one to resume with
    unsized = ingest(index, open_sources([str(path)]), same_chunking=True)
    assert (unsized.skipped_vectors, unsized.skipped_chunks) == (300, 5)  # in 64s, not the default


def test_a_dry_run_reads_every_line_past_broken_ones_and_counts_true(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """Lines that are not JSON, a line missing a field, and a wrong dimension further on:
    every line is read and judged, and the counts are the truth (the dry run used to stop
    at the first broken line and report what it had read by then)."""
    from vecq.api.ingest.dryrun import dry_run

    index = make_index(dimension=3)
    lines = [json.dumps({"id": 1, "vector": [1, 2, 3]})]
    lines += ["{not json", "[1, 2]", "nope", '"text"']  # lines 2-5
    lines.append(json.dumps({"vector": [1, 2, 3]}))  # line 6: no id
    lines += [json.dumps({"id": i, "vector": [1, 2, 3]}) for i in (7, 8)]
    lines.append(json.dumps({"id": 9, "vector": [1, 2]}))  # line 9: two dimensions
    lines.append(json.dumps({"id": 10, "vector": [1, True, 3]}))  # line 10: true is no number
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = dry_run(index, open_sources([str(path)]), chunk_rows=4)
    assert (report.records, report.valid, report.rejected) == (10, 3, 7)
    said = "\n".join(report.errors)
    for line in (2, 3, 4, 5, 6, 9, 10):
        assert f"line {line}" in said, line
    assert index.count() == 0


def test_a_second_run_of_the_same_source_is_refused_while_the_first_reads_it(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """Two runs of one source into one index at once would each enqueue all of it: the
    second is refused, saying who runs; another source, or the same one later, goes ahead."""
    from vecq.api.ingest.backfill import _one_run
    from vecq.shared.state.leases import LeaseHeld

    index = make_index(dimension=4)
    path, _ = _npy(tmp_path, 10, 4)
    (source,) = open_sources([str(path)])
    with _one_run(index, source):
        with pytest.raises(
            LeaseHeld, match=rf"an ingest of .*{path.name} into index '.*' is already"
        ):
            ingest(index, open_sources([str(path)]))
        other, _ = _npy(tmp_path, 5, 4, seed=1)
        _wait(ingest(index, open_sources([str(other)], id_start=100)))
    assert not index.session.redis.exists(keys.ingest_lease(index.name, source.fingerprint(0)))
    report = ingest(index, open_sources([str(path)]))
    _wait(report)
    assert report.vectors == 10 and index.count() == 15


def test_a_damaged_parquet_page_names_the_file_and_row_group(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.random.default_rng(3).random((5000, 8), dtype=np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 8)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"id": np.arange(5000), "vector": column}), good, compression="snappy")
    damaged = bytearray(good.read_bytes())
    damaged[2000:2400] = b"\x55" * 400  # inside the first row group's pages
    path = tmp_path / "damaged.parquet"
    path.write_bytes(bytes(damaged))
    index = make_index(dimension=8)
    with pytest.raises(SourceError, match=r"damaged\.parquet: row group 0 cannot be read \("):
        ingest(index, open_sources([str(path)]))
    assert index.count() == 0
