"""RowGroupFile: each row group's columns fetched in one request, the data read unchanged
(here over a local file through pyarrow's own file type, as pyarrow's S3 file is)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vecq.api.ingest.sources.rowgroups import GAP_BYTES, RowGroupFile, spans


def _write(path: Path, rows: int, text_bytes: int, row_group: int) -> None:
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "id": np.arange(rows),
            "lang": ["en" if i % 3 else "fr" for i in range(rows)],  # dictionary-encoded
            "text": ["x" * text_bytes + str(i) for i in range(rows)],
            "vector": list(rng.standard_normal((rows, 16), dtype=np.float32)),
        }
    )
    pq.write_table(table, path, row_group_size=row_group, compression="none")


def _read(path: Path, columns: list[str]) -> tuple[pa.Table, RowGroupFile]:
    metadata = pq.read_metadata(path)
    file = RowGroupFile(pa.OSFile(str(path)), metadata, columns)
    reader = pq.ParquetFile(file, metadata=metadata, pre_buffer=False)
    batches = [
        b
        for g in range(metadata.num_row_groups)
        for b in reader.iter_batches(batch_size=300, row_groups=[g], columns=columns)
    ]
    return pa.Table.from_batches(batches), file


def test_each_row_group_is_one_request_and_reads_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _write(path, 2_000, text_bytes=10, row_group=500)
    columns = ["id", "lang", "text", "vector"]
    table, file = _read(path, columns)
    assert table.equals(pq.read_table(path, columns=columns))
    assert file.requests == 4  # four row groups, nothing read outside them


def test_a_large_unread_column_between_read_ones_is_not_fetched(tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    _write(path, 1_000, text_bytes=GAP_BYTES // 200, row_group=500)  # ~2.5 MiB of text a group
    metadata = pq.read_metadata(path)
    read = spans(metadata, ["id", "vector"])
    assert [len(r) for r in read] == [2, 2]  # id apart from vector: the text between skipped
    text = metadata.row_group(0).column(2).total_compressed_size
    fetched = sum(end - start for start, end in read[0])
    assert fetched < text  # and less than the skipped column alone
    table, file = _read(path, ["id", "vector"])
    assert table.equals(pq.read_table(path, columns=["id", "vector"]))
    assert file.requests == 4
    assert [len(r) for r in spans(metadata, ["id", "lang"])] == [1, 1]  # neighbours: joined
