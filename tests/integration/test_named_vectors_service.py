"""Named vectors from the command line and through the embedded service, read back by Edge."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from qdrant_edge import EdgeShard

from vecq import Client
from vecq.api import launcher
from vecq.shared.points import ids as idrules


def test_named_vectors_through_the_command_line_and_the_service(
    data_dir: Path, tmp_path: Path
) -> None:
    """`vecq index create --vector --sparse`, list and describe; an embedded client writes
    and reads through the service; once it is down, Edge itself holds every vector."""

    def vecq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vecq.api.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    key_file = tmp_path / "docs.key"
    for bad, message in (
        (["--vector", "text:768:cos"], "distance must be one of"),
        (["--vector", "text"], "use NAME:SIZE[:DISTANCE][:multi]"),
        (["--sparse", "bm25:bm25"], "modifier must be None or one of idf"),
        (["--dimension", "3", "--sparse", "s"], "give --dimension"),
        ([], "give --dimension"),
    ):
        failed = vecq("index", "create", "docs", "--key-file", str(key_file), *bad)
        assert failed.returncode == 2 and message in failed.stderr, failed.stderr
    made = vecq(
        "index",
        "create",
        "docs",
        "--key-file",
        str(key_file),
        "--vector",
        "text:3:dot",
        "--vector",
        "rows:2:dot:multi",
        "--sparse",
        "bm25:idf",
    )
    assert made.returncode == 0, made.stderr
    assert "vectors text: 3-d dot; rows: 2-d dot multivector; bm25: sparse (idf)" in made.stdout
    described = json.loads(vecq("index", "describe", "docs", "--json").stdout)
    assert described["sparse_vectors"] == {"bm25": {"modifier": "idf"}}
    assert described["vectors"]["rows"] == {"size": 2, "distance": "dot", "multivector": True}
    assert "vectors text, rows, bm25" in vecq("index", "list").stdout
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "k": [10, 11],
                "t": [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]],
                "r": [[[1.0, 0.0]], None],
                "bi": [[1], [2, 3]],
                "bv": [[1.0], [2.0, 3.0]],
            }
        ),
        tmp_path / "d.parquet",
    )
    loaded = vecq(
        "ingest",
        str(tmp_path / "d.parquet"),
        "--index",
        "docs",
        "--key-file",
        str(key_file),
        "--id-column",
        "k",
        "--vector",
        "text=t",
        "--vector",
        "rows=r",
        "--sparse",
        "bm25=bi,bv",
    )
    assert loaded.returncode == 0, loaded.stderr
    with Client() as client:
        index = client.load_index("docs", key_file=key_file)
        index.upsert(
            [{"id": "a", "vector": {"text": [1, 2, 3], "rows": [[1, 2]], "bm25": ([5], [0.5])}}]
        )
        assert index.get([11])[0]["vector"] == {
            "text": [2, 2, 2],
            "bm25": {"indices": [2, 3], "values": [2, 3]},
        }
        (got,) = index.get(["a"])
        assert got["vector"] == {
            "text": [1, 2, 3],
            "rows": [[1, 2]],
            "bm25": {"indices": [5], "values": [0.5]},
        }
    launcher.stop(data_dir)
    shard = EdgeShard.load(str(data_dir / "edge" / "docs"))
    try:
        (record,) = shard.retrieve(
            [str(uuid.uuid5(idrules.NAMESPACE, "a"))], with_vector=True, with_payload=True
        )
        assert record.vector["text"] == [1, 2, 3] and record.vector["rows"] == [[1, 2]]
        assert list(record.vector["bm25"].indices) == [5]
    finally:
        shard.close()
