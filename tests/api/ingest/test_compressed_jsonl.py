"""JSON Lines compressed (.gz, .bz2, .zst) and from standard input, as backfill sources."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vecq import Client, Index
from vecq.api.ingest.backfill import ingest
from vecq.api.ingest.sources.files import open_sources
from vecq.shared.errors import SourceError


def _lines(first: int, n: int) -> bytes:
    rows = [
        {"id": i, "vector": [float(i), 1.0, 2.0], "metadata": {"n": i}}
        for i in range(first, first + n)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _zst(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return bytes(zstandard.ZstdCompressor().compress(data))


def _wait(report: object) -> None:
    for job in report.jobs:  # type: ignore[attr-defined]
        job.wait(60)


def test_compressed_files_are_read_as_they_decompress(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """A folder of .jsonl.gz, .ndjson.bz2 and .jsonl.zst: every row stored, in chunks."""
    index = make_index(dimension=3, shards=2)
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(_lines(0, 30)))
    (folder / "b.ndjson.bz2").write_bytes(bz2.compress(_lines(30, 30)))
    (folder / "c.jsonl.zst").write_bytes(_zst(_lines(60, 30)))
    (folder / "d.txt.gz").write_bytes(gzip.compress(b"not data"))
    sources = open_sources([str(folder)])
    assert [s.path.name for s in sources] == ["a.jsonl.gz", "b.ndjson.bz2", "c.jsonl.zst"]  # type: ignore[attr-defined]
    _wait(ingest(index, sources, chunk_rows=7))
    assert index.count() == 90
    assert index.get([75])[0]["metadata"] == {"n": 75}


def test_compressed_and_piped_json_lines_are_read_in_json_sized_chunks(tmp_path: Path) -> None:
    """The chunk size for JSON is by lines (its floats are Python objects until validated),
    whatever the file's last suffix."""
    from vecq.api.defaults import JSONL_CHUNK_ROWS
    from vecq.api.ingest.backfill import chunk_rows_for

    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(_lines(0, 3)))
    for source in (*open_sources([str(path)]), *open_sources(["-"])):
        assert chunk_rows_for(source, 3) == JSONL_CHUNK_ROWS


def test_a_bad_line_in_a_compressed_file_is_named(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    index = make_index(dimension=3, shards=1)
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(gzip.compress(_lines(0, 4) + b"{not json\n"))
    with pytest.raises(SourceError, match=r"bad\.jsonl\.gz: line 5: not valid JSON"):
        ingest(index, open_sources([str(path)]), chunk_rows=100)


def test_a_damaged_gzip_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(_lines(0, 50))[:-20])
    (source,) = open_sources([str(path)])
    with pytest.raises((EOFError, OSError)):
        list(source.chunks(10))


def test_standard_input_alone(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="read alone"):
        open_sources(["-", str(tmp_path)])


def test_vecq_ingest_reads_standard_input(data_dir: Path, tmp_path: Path) -> None:
    """`producer | vecq ingest - --index x`: every line stored; errors say <stdin>: line N."""
    key_file = tmp_path / "k.key"

    def vecq(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "vecq.api.cli", *args],
            input=stdin,
            capture_output=True,
            timeout=120,
        )

    made = vecq("index", "create", "piped", "--dimension", "3", "--key-file", str(key_file))
    assert made.returncode == 0, made.stderr
    done = vecq(
        "ingest", "-", "--index", "piped", "--key-file", str(key_file), stdin=_lines(0, 500)
    )
    assert done.returncode == 0, done.stderr
    assert b"written: 500 vectors" in done.stdout
    bad = vecq(
        "ingest",
        "-",
        "--index",
        "piped",
        "--key-file",
        str(key_file),
        stdin=_lines(0, 3) + b"[1, 2]\n",
    )
    assert bad.returncode == 2 and b"<stdin>: line 4: expected a JSON object" in bad.stderr
    wrong = vecq(
        "ingest",
        "-",
        "--index",
        "piped",
        "--key-file",
        str(key_file),
        stdin=b'{"id": 1, "vector": [1.0, 2.0]}\n',
    )
    assert wrong.returncode == 2 and b"<stdin>: line 1 (id 1): vector has 2" in wrong.stderr
    mirrored = vecq(
        "ingest",
        "-",
        "--index",
        "piped",
        "--key-file",
        str(key_file),
        "--mirror",
        stdin=_lines(0, 3),
    )
    assert mirrored.returncode == 2 and b"cannot be read twice" in mirrored.stderr
    with Client() as client:  # nothing was deleted
        assert client.load_index("piped", key_file=key_file).count() == 500
    zipped = vecq(
        "ingest",
        "-",
        "--format",
        "jsonl.gz",
        "--index",
        "piped",
        "--key-file",
        str(key_file),
        stdin=gzip.compress(_lines(500, 20)),
    )
    assert zipped.returncode == 0 and b"written: 20 vectors" in zipped.stdout, zipped.stderr
    assert b"standard input: 1 chunk(s), enqueued 20 records" in zipped.stdout
    unsaid = vecq(
        "ingest", "-", "--index", "piped", "--key-file", str(key_file), stdin=gzip.compress(b"{}")
    )
    assert unsaid.returncode == 2 and b"Traceback" not in unsaid.stderr
    assert b"<stdin>: this is gzip-compressed, not JSON Lines: give --format jsonl.gz" in (
        unsaid.stderr
    )
    table = pa.table({"id": [900, 901], "vector": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]})
    body = io.BytesIO()
    pq.write_table(table, body)
    piped = vecq(
        "ingest",
        "-",
        "--format",
        "parquet",
        "--index",
        "piped",
        "--key-file",
        str(key_file),
        stdin=body.getvalue(),
    )
    assert piped.returncode == 0 and b"written: 2 vectors" in piped.stdout, piped.stderr
    junk = vecq(
        "ingest",
        "-",
        "--format",
        "parquet",
        "--index",
        "piped",
        "--key-file",
        str(key_file),
        stdin=b"not parquet",
    )
    assert junk.returncode == 2 and b"<stdin>: not a readable Parquet file" in junk.stderr
    unknown = vecq(
        "ingest", "-", "--format", "csv", "--index", "piped", "--key-file", str(key_file)
    )
    assert unknown.returncode == 2 and b"--format 'csv': choose one of jsonl," in unknown.stderr
    with Client() as client:
        assert client.load_index("piped", key_file=key_file).count() == 522


def test_mirroring_standard_input_is_refused_by_the_library(
    make_index: Callable[..., Index],
) -> None:
    from vecq.api.ingest.mirror import delete_extras

    index = make_index(dimension=3, shards=1)
    with pytest.raises(SourceError, match="cannot be read twice"):
        delete_extras(index, open_sources(["-"]))


def test_format_reads_a_file_whose_name_does_not_say(tmp_path: Path) -> None:
    path = tmp_path / "export.bin"
    path.write_bytes(gzip.compress(_lines(0, 9)))
    with pytest.raises(SourceError, match=r"unsupported file type \.bin"):
        open_sources([str(path)])
    (source,) = open_sources([str(path)], fmt="jsonl.gz")
    assert sum(chunk.rows for chunk in source.chunks(4)) == 9


@pytest.mark.parametrize(
    ("pack", "hint"),
    [(gzip.compress, r"gzip.* name it \*\.jsonl\.gz"), (bz2.compress, r"bzip2.*jsonl\.bz2")],
)
def test_a_compressed_file_named_as_plain_json_lines_says_so(
    tmp_path: Path, pack: Callable[[bytes], bytes], hint: str
) -> None:
    path = tmp_path / "day.jsonl"
    path.write_bytes(pack(_lines(0, 3)))
    (source,) = open_sources([str(path)])
    with pytest.raises(SourceError, match=rf"day\.jsonl: this is {hint}"):
        list(source.chunks(10))
