"""Object storage as a source, on a real S3-compatible server (moto's server mode, loopback,
reached through AWS_ENDPOINT_URL): objects, prefixes, globs, Hive partitions, compressed
JSON Lines, ranged reads, resume by ETag, schedules, and the errors."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.s3 import CountingProxy, put
from vecq import Client, Index
from vecq.api.ingest.backfill import Report, ingest
from vecq.api.ingest.etl import run_source
from vecq.api.ingest.etl_config import EtlSource
from vecq.api.ingest.mapping import from_flags
from vecq.api.ingest.sources.files import open_sources
from vecq.api.ingest.sources.objects import expand, partitions
from vecq.api.ingest.verify import verify
from vecq.shared.errors import SourceError, SourceUnreachable
from vecq.shared.redaction import redact


def parquet(ids: range, row_group: int = 1000, dim: int = 3) -> bytes:
    table = pa.table(
        {
            "id": list(ids),
            "vector": [[float(i)] + [1.0] * (dim - 1) for i in ids],
            "lang": ["en" if i % 2 else "fr" for i in ids],
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=row_group)
    return out.getvalue()


def load(index: Index, patterns: list[str], chunk_rows: int) -> Report:
    report = ingest(index, open_sources(patterns), chunk_rows=chunk_rows)
    for job in report.jobs + report.earlier_jobs:
        job.wait(60)
    return report


def test_parquet_objects_by_prefix_and_glob_with_hive_partitions(
    make_index: Callable[..., Index], s3_bucket: str
) -> None:
    """A prefix reads every data object under it; `year=2026` folders become metadata."""
    put(s3_bucket, "emb/year=2025/lang=x/part-0.parquet", parquet(range(0, 40), row_group=16))
    put(s3_bucket, "emb/year=2026/lang=x/part-0.parquet", parquet(range(40, 70)))
    put(s3_bucket, "emb/_SUCCESS", b"")
    put(s3_bucket, "emb/README.txt", b"not data")
    index = make_index(dimension=3)
    report = load(index, [f"s3://{s3_bucket}/emb/"], chunk_rows=10)
    assert report.vectors == 70 and report.files == 2
    got = {p["id"]: p for p in index.get([1, 45])}
    assert got[1]["metadata"] == {"lang": "en", "year": 2025}  # the column wins over lang=x
    assert got[45]["metadata"] == {"lang": "en", "year": 2026} and got[45]["vector"][0] == 45.0
    only = open_sources(
        [f"s3://{s3_bucket}/emb/year=2026/*/*.parquet"], mapping=from_flags(metadata_columns="year")
    )
    assert [str(s.path) for s in only] == [f"s3://{s3_bucket}/emb/year=2026/lang=x/part-0.parquet"]
    folders = open_sources([f"s3://{s3_bucket}/emb/year=202*/"])  # a glob of prefixes
    assert [s.path.name for s in folders] == ["part-0.parquet"] * 2
    chunk = next(iter(only[0].chunks(5)))
    assert chunk.metadata is not None and chunk.metadata[0] == {"year": 2026}
    checked = verify(index, open_sources([f"s3://{s3_bucket}/emb/"]), chunk_rows=10)
    assert checked.ok and checked.matching == 70


def test_compressed_json_lines_objects(make_index: Callable[..., Index], s3_bucket: str) -> None:
    lines = b"".join(
        json.dumps({"id": i, "vector": [i, 1, 2], "metadata": {"n": i}}).encode() + b"\n"
        for i in range(25)
    )
    put(s3_bucket, "day/a.jsonl.gz", gzip.compress(lines))
    index = make_index(dimension=3)
    assert load(index, [f"s3://{s3_bucket}/day/*.jsonl.gz"], chunk_rows=7).vectors == 25
    assert index.get([24])[0]["metadata"] == {"n": 24}


def four_row_groups() -> bytes:
    """A 40 MB object of 4 row groups, uncompressed."""
    vectors = np.random.default_rng(1).standard_normal((100_000, 100), dtype=np.float32)
    table = pa.table({"id": np.arange(100_000), "vector": list(vectors)})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=25_000, compression="none")
    return out.getvalue()


def test_a_parquet_object_is_read_in_ranges_not_downloaded_whole(s3_bucket: str) -> None:
    """Through fsspec (every protocol but S3's Parquet): the first of 4 row groups costs
    the footer and that group's bytes (and what the 8 MiB ranges read past it)."""
    body = four_row_groups()
    put(s3_bucket, "big.parquet", body)
    ((remote, _),) = expand(f"s3://{s3_bucket}/big.parquet", lambda f: True)
    assert remote.size == len(body) and remote.version  # the ETag resume state is kept by
    handle = remote.open()
    first = pq.ParquetFile(handle).read_row_group(0)
    assert first.num_rows == 25_000
    fetched = handle.cache.total_requested_bytes
    assert 0 < fetched < len(body) * 0.6, (fetched, len(body))


def test_s3_parquet_is_read_through_pyarrow_s3_in_ranges(
    s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An s3:// Parquet object is read by pyarrow's own S3 filesystem, at the endpoint
    AWS_ENDPOINT_URL names: the bytes the server sent (counted by a relay in front of it)
    for the first of 4 row groups are that group and the footer, not the object."""
    body = four_row_groups()
    put(s3_bucket, "big.parquet", body)
    ((remote, _),) = expand(f"s3://{s3_bucket}/big.parquet", lambda f: True)
    relay = CountingProxy(s3_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", relay.url)
    try:
        handle = remote.arrow_input()
        assert isinstance(handle, pa.NativeFile) and not isinstance(handle, pa.PythonFile)
        first = pq.ParquetFile(handle, pre_buffer=True).read_row_group(0)
        assert first.num_rows == 25_000
        assert len(body) * 0.2 < relay.received < len(body) * 0.35, (relay.received, len(body))
        relay.received = relay.requests = 0
        source = open_sources([f"s3://{s3_bucket}/big.parquet"])[0]
        assert sum(c.rows for c in source.chunks(30_000)) == 100_000
        # Each row group's two columns in one GET; the object's bytes read once.
        assert 4 <= relay.requests <= 6, relay.requests  # + its size and its footer
        assert len(body) * 0.95 < relay.received < len(body) * 1.05, (relay.received, len(body))
    finally:
        relay.close()


def test_s3_parquet_falls_back_to_s3fs_where_pyarrow_cannot_open_it(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow's S3 filesystem refused (here: an endpoint only s3fs is told about, in
    AWS_ENDPOINT_URL_S3's place a bad one): the object is still read, through s3fs."""
    put(s3_bucket, "p.parquet", parquet(range(12)))
    ((remote, _),) = expand(f"s3://{s3_bucket}/p.parquet", lambda f: True)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")  # nothing listens
    handle = remote.arrow_input()
    assert not isinstance(handle, pa.NativeFile)
    assert pq.ParquetFile(handle).read().num_rows == 12


def test_a_rerun_skips_an_unchanged_object_and_reads_a_changed_one(
    make_index: Callable[..., Index], s3_bucket: str
) -> None:
    put(s3_bucket, "p/a.parquet", parquet(range(30)))
    index = make_index(dimension=3)
    url = f"s3://{s3_bucket}/p/a.parquet"
    load(index, [url], chunk_rows=10)
    again = load(index, [url], chunk_rows=10)
    assert (again.vectors, again.skipped_vectors) == (0, 30)
    put(s3_bucket, "p/a.parquet", parquet(range(30, 65)))  # new content, new ETag
    changed = load(index, [url], chunk_rows=10)
    assert (changed.vectors, changed.skipped_vectors) == (35, 0)
    assert index.count() == 65


def test_a_schedule_over_a_prefix_sees_objects_that_arrive_later(
    client: Client, make_index: Callable[..., Index], key: bytes, s3_bucket: str
) -> None:
    index = make_index(dimension=3)
    put(s3_bucket, "drop/a.parquet", parquet(range(10)))
    source = EtlSource("s3-drop", index.name, (f"s3://{s3_bucket}/drop/",), key, every=60)
    first = run_source(client, source)
    assert (first.files, first.enqueued, first.error) == (1, 10, None)
    put(s3_bucket, "drop/b.parquet", parquet(range(10, 14)))
    second = run_source(client, source)
    assert (second.files, second.enqueued, second.skipped) == (2, 4, 10)


def test_object_errors_are_clear_and_name_the_url(s3_bucket: str) -> None:
    with pytest.raises(SourceError, match=rf"s3://{s3_bucket}/none/: no such object or prefix"):
        open_sources([f"s3://{s3_bucket}/none/"])
    with pytest.raises(SourceError, match=r"s3://no-such-bucket-vecq/x.parquet: no such"):
        open_sources(["s3://no-such-bucket-vecq/x.parquet"])
    put(s3_bucket, "v.npy", b"\x93NUMPY")
    with pytest.raises(SourceError, match="read from local disk"):
        open_sources([f"s3://{s3_bucket}/v.npy"])
    put(s3_bucket, "bad.parquet", b"PAR1 but not really")
    with pytest.raises(SourceError, match=r"bad\.parquet: not a readable Parquet file"):
        open_sources([f"s3://{s3_bucket}/bad.parquet"])
    empty = open_sources([f"s3://{s3_bucket}/later/*.parquet"], missing_ok=True)
    assert empty == []
    assert redact("s3://user:secret@host/b/k") == "s3://user:***@host/b/k"


@pytest.mark.skipif(importlib.util.find_spec("gcsfs") is not None, reason="gcsfs is installed")
def test_a_protocol_without_its_library_names_the_extra() -> None:
    with pytest.raises(
        SourceError,
        match=r"gs://b/x.parquet: reading gs:// needs pip install "
        r"'vecq\[gcs\]'",
    ):
        open_sources(["gs://b/x.parquet"])


def test_hive_partition_values_are_the_key_value_folders_of_the_key() -> None:
    assert partitions("b/emb/year=2026/m=11/p.parquet") == {"year": "2026", "m": "11"}
    assert partitions("b/emb/p=q.parquet") == {}  # the object's own name is not a folder
    assert partitions("b/k%3Dx=a%20b/c=__HIVE_DEFAULT_PARTITION__/p") == {"k=x": "a b"}


def test_a_plain_https_url_is_read_like_an_object(
    make_index: Callable[..., Index], s3_endpoint: str, s3_bucket: str
) -> None:
    """An http(s):// URL (here the S3 server's own path-style URL of the object)."""
    put(s3_bucket, "pub/a.parquet", parquet(range(12)), public=True)
    put(s3_bucket, "pub/private.parquet", parquet(range(12)))
    index = make_index(dimension=3)
    url = f"{s3_endpoint}/{s3_bucket}/pub/a.parquet"
    assert load(index, [url], chunk_rows=5).vectors == 12
    assert [str(s.path) for s in open_sources([url])] == [url]
    refused = f"{s3_endpoint}/{s3_bucket}/pub/private.parquet"  # 403 without credentials
    with pytest.raises(SourceError, match="no such object or prefix, or it may not be read"):
        open_sources([refused])


def test_an_endpoint_that_does_not_answer_is_named_with_its_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At once, rather than after botocore's retries, and naming the variable to fix."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with pytest.raises(
        SourceUnreachable, match=r"s3://b/x/\*\.parquet \(AWS_ENDPOINT_URL\): cannot reach"
    ):
        open_sources(["s3://b/x/*.parquet"])
