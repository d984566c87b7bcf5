"""JSON Lines deletes, mirror runs and verify: a source and the index, compared and aligned."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.engines import ENGINES
from vecq import Index
from vecq.api.ingest.backfill import ingest
from vecq.api.ingest.mirror import delete_extras
from vecq.api.ingest.sources.files import open_sources
from vecq.api.ingest.verify import verify
from vecq.shared.errors import MirrorRefused, SourceError

pytestmark = [pytest.mark.integration, pytest.mark.engines(*ENGINES)]


def _jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _point(i: int | str, value: float, **meta: Any) -> dict[str, Any]:
    return {"id": i, "vector": [value, 1.0, 2.0], **({"metadata": meta} if meta else {})}


def _load(index: Index, path: Path) -> None:
    report = ingest(index, open_sources([str(path)]), chunk_rows=3)
    for job in report.jobs:
        job.wait(30)


def test_delete_lines_apply_in_file_order(make_index: Callable[..., Index], tmp_path: Path) -> None:
    """Upserts and deletes of one file (across chunks) end as the file says, line by line."""
    index = make_index(dimension=3, shards=2)
    path = _jsonl(
        tmp_path / "ops.jsonl",
        [
            _point(1, 1.0),
            _point("a", 1.0),
            {"op": "delete", "id": 1},
            _point(2, 2.0),
            {"op": "delete", "id": "a"},
            _point(1, 3.0),
            {"op": "delete", "id": "never"},
        ],
    )
    _load(index, path)
    got = {p["id"]: p["vector"][0] for p in index.get([1, "a", 2, "never"])}
    assert got == {1: 3.0, 2: 2.0}


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ({"op": "delete"}, "line 2: a delete line holds only 'op' and 'id'"),
        ({"op": "delete", "id": 1, "vector": [1, 2, 3]}, "line 2: a delete line holds only"),
        ({"op": "remove", "id": 1}, "line 2: field 'op' must be 'upsert' or 'delete'"),
        ({"op": "delete", "id": -4}, "line 2: id -4 is outside"),
    ],
)
def test_a_bad_delete_line_is_named(
    make_index: Callable[..., Index], tmp_path: Path, line: dict[str, Any], fragment: str
) -> None:
    """A malformed delete line names its file and line, and nothing of its chunk is sent."""
    index = make_index(dimension=3, shards=1)
    path = _jsonl(tmp_path / "bad.jsonl", [_point(1, 1.0), line])
    with pytest.raises(SourceError, match=fragment):
        ingest(index, open_sources([str(path)]))
    assert index.count() == 0


def test_mirror_deletes_what_the_source_no_longer_holds(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """The index holds ids 0-9 and 's0'-'s4'; the source 5-14, 's3' and a deleted 's4':
    after the mirror pass, the index holds exactly the source's ids."""
    index = make_index(dimension=3, shards=3)
    index.upsert([_point(i, 1.0) for i in range(10)] + [_point(f"s{i}", 1.0) for i in range(5)])
    lines = [_point(i, 2.0) for i in range(5, 15)] + [
        _point("s3", 2.0),
        _point("s4", 2.0),
        {"op": "delete", "id": "s4"},
    ]
    path = _jsonl(tmp_path / "mirror.jsonl", lines)
    _load(index, path)
    with pytest.raises(
        MirrorRefused,
        match=r"it would delete 8 of the 19 points of .* \(42%\), more than "
        r"--max-delete-fraction 0\.1 allows; nothing was",
    ):
        delete_extras(index, open_sources([str(path)]), chunk_rows=4, timeout=30)  # 8 of 19
    assert index.count() == 19
    done = delete_extras(
        index, open_sources([str(path)]), chunk_rows=4, timeout=30, max_delete_fraction=0.5
    )
    assert (done.source_ids, done.deleted) == (11, 8)
    universe: list[int | str] = [*range(20), *(f"s{i}" for i in range(6))]
    assert sorted(map(str, (p["id"] for p in index.get(universe)))) == sorted(
        map(str, [*range(5, 15), "s3"])
    )
    again = delete_extras(index, open_sources([str(path)]), chunk_rows=4, timeout=30)
    assert again.deleted == 0  # a second run finds nothing more to delete


def test_an_empty_source_deletes_nothing_unless_allowed(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """An export that failed upstream (an empty file) must not empty the index."""
    index = make_index(dimension=3, shards=2)
    index.upsert([_point(i, 1.0) for i in range(4)])
    empty = _jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(MirrorRefused, match=r"the source holds no records: mirroring it would"):
        delete_extras(index, open_sources([str(empty)]), timeout=30, max_delete_fraction=1.0)
    assert index.count() == 4
    done = delete_extras(
        index, open_sources([str(empty)]), timeout=30, max_delete_fraction=1.0, allow_empty=True
    )
    assert done.deleted == 4 and index.count() == 0


def test_verify_finds_missing_stale_and_extra_and_repairs(
    make_index: Callable[..., Index], tmp_path: Path
) -> None:
    """After an ingest the source matches; a deleted, a changed and an added point are
    reported with samples; --repair writes the first two back; extras stay."""
    index = make_index(dimension=3, shards=2, metric="cosine")
    lines = [_point(i, float(i + 1), n=i, tags=["x", i]) for i in range(12)]
    lines += [_point("doc", 5.0, when="2026-01-01T00:00:00Z"), _point(3, 9.0, n=3)]
    path = _jsonl(tmp_path / "source.jsonl", lines)
    _load(index, path)
    assert verify(index, open_sources([str(path)]), chunk_rows=5).ok
    index.delete([2])
    index.update_metadata([("doc", {"when": None})])
    index.upsert([_point(100, 1.0)])
    index.upsert([_point(4, 7.5, n=4, tags=["x", 4])])
    found = verify(index, open_sources([str(path)]), chunk_rows=5, repair=True)
    assert found.counts == {"missing": 1, "stale": 2, "extra": 1}
    assert (found.missing, sorted(map(str, found.stale)), found.extra) == ([2], ["4", "doc"], [100])
    assert found.checked == 13 and found.matching == 10 and found.repaired == 3
    for job in found.jobs:
        job.wait(30)
    after = verify(index, open_sources([str(path)]), chunk_rows=5)
    assert after.counts == {"missing": 0, "stale": 0, "extra": 1}
    assert index.get([3])[0]["metadata"] == {"n": 3}  # the id's last record is what counts


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_mirror_of_standard_input_is_refused(
    make_index: Callable[..., Index], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Standard input cannot be read twice: JSON Lines and spooled Parquet are both refused."""
    import io
    import types

    import pyarrow as pa
    import pyarrow.parquet as pq

    from vecq.api.ingest.sources.files import stdin_source

    index = make_index(dimension=3, shards=2)
    body = io.BytesIO()
    pq.write_table(pa.table({"id": [1], "vector": [[1.0, 2.0, 3.0]]}), body)
    data = body.getvalue() if fmt == "parquet" else b'{"id": 1, "vector": [1, 2, 3]}\n'
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(data)))
    source = stdin_source(fmt, None)
    assert source.stdin and source.name == "<stdin>"
    with pytest.raises(SourceError, match="standard input cannot be read twice"):
        delete_extras(index, [source])
