"""`vecq index` and `vecq verify` as commands, embedded: keys on disk, listings, exit statuses."""

from __future__ import annotations

import json
import os
import pty
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def vecq(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vecq.api.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def on_a_terminal(*args: str, answer: str) -> subprocess.CompletedProcess[str]:
    """Run ``vecq`` with a pseudo-terminal as its standard input, typing ``answer``."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode() + b"\n")
        return subprocess.run(
            [sys.executable, "-m", "vecq.api.cli", *args],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(controller)
        os.close(terminal)


def test_index_commands_create_list_describe_delete(data_dir: Path, tmp_path: Path) -> None:
    """The key goes to an owner-only file and never to the output; list and describe show
    the index; a second create refuses to overwrite the key; delete removes it."""
    key_file = tmp_path / "shop.key"
    made = vecq(
        "index", "create", "shop", "--dimension", "3", "--shards", "2", "--key-file", str(key_file)
    )
    assert made.returncode == 0, made.stderr
    key = key_file.read_text().strip()
    assert len(bytes.fromhex(key)) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key not in made.stdout + made.stderr
    again = vecq("index", "create", "shop2", "--dimension", "3", "--key-file", str(key_file))
    assert again.returncode == 2 and "--reuse-key" in again.stderr
    shown = vecq(
        "index",
        "create",
        "shop2",
        "--dimension",
        "3",
        "--key-file",
        str(key_file),
        "--reuse-key",
        "--print-key",
    )
    assert shown.returncode == 0 and key in shown.stdout
    listed = json.loads(vecq("index", "list", "--json").stdout)
    assert [(e["name"], e["dimension"], e["shards"]) for e in listed] == [
        ("shop", 3, 2),
        ("shop2", 3, 4),
    ]
    described = json.loads(vecq("index", "describe", "shop", "--json").stdout)
    assert described["points"] == 0 and described["marks"]["tombstones"] == 0
    wrong = tmp_path / "wrong.key"
    wrong.write_text("00" * 32)
    refused = vecq("index", "delete", "shop", "--key-file", str(wrong), "--yes")
    assert refused.returncode == 2 and "does not match" in refused.stderr
    piped = vecq("index", "delete", "shop", "--key-file", str(key_file), stdin="y\n")
    assert piped.returncode == 2 and "no terminal" in piped.stderr and "--yes" in piped.stderr
    declined = on_a_terminal("index", "delete", "shop", "--key-file", str(key_file), answer="n")
    assert declined.returncode == 1 and "not deleted" in declined.stdout
    taken = vecq("index", "create", "shop", "--dimension", "3", "--key-file", str(key_file))
    assert taken.returncode == 2 and "index 'shop' exists" in taken.stderr
    gone = vecq("index", "delete", "shop", "--key-file", str(key_file), "--yes")
    assert gone.returncode == 0, gone.stderr
    assert [e["name"] for e in json.loads(vecq("index", "list", "--json").stdout)] == ["shop2"]
    missing = vecq("index", "describe", "shop")
    assert missing.returncode == 2 and "shop" in missing.stderr


def test_ingest_mirror_and_verify_exit_statuses(data_dir: Path, tmp_path: Path) -> None:
    """verify exits 0 when the index matches the files and 1 when not; ingest --mirror
    deletes what the files no longer hold, after which verify matches again."""
    key_file = tmp_path / "m.key"
    assert (
        vecq(
            "index",
            "create",
            "m",
            "--dimension",
            "2",
            "--key-file",
            str(key_file),
            "--metric",
            "dot",
        ).returncode
        == 0
    )
    source = tmp_path / "day1.jsonl"
    source.write_text("".join(json.dumps({"id": i, "vector": [i, 1]}) + "\n" for i in range(6)))
    common = ["--index", "m", "--key-file", str(key_file)]
    assert vecq("ingest", str(source), *common).returncode == 0
    assert vecq("verify", str(source), *common).returncode == 0
    source.write_text("".join(json.dumps({"id": i, "vector": [i, 1]}) + "\n" for i in range(3)))
    differs = vecq("verify", str(source), *common, "--json")
    assert differs.returncode == 1
    assert json.loads(differs.stdout)["extra"] == 3
    planned = vecq("ingest", str(source), *common, "--mirror", "--dry-run", "--json")
    assert planned.returncode == 1, planned.stderr  # the guard would refuse: 3 of 6 > 0.1
    assert json.loads(planned.stdout)["mirror"] == {
        "source_ids": 3,
        "stored": 6,
        "would_delete": 3,
        "refusal": "it would delete 3 of the 6 points of the index (50%), more than "
        "--max-delete-fraction 0.1 allows",
    }
    allowed = vecq(
        "ingest", str(source), *common, "--mirror", "--dry-run", "--max-delete-fraction", "0.5"
    )
    assert (
        allowed.returncode == 0 and "3 of the index's 6 points would be deleted" in allowed.stdout
    )
    refused = vecq("ingest", str(source), *common, "--mirror", "--json")
    assert refused.returncode == 1 and "mirror refused" in refused.stderr
    summary = json.loads(refused.stdout)  # the only thing on standard output
    assert (summary["status"], summary["deleted"], summary["enqueued"]) == ("mirror_refused", 0, 3)
    mirrored = vecq("ingest", str(source), *common, "--mirror", "--max-delete-fraction", "0.5")
    assert mirrored.returncode == 0, mirrored.stderr
    assert "deleted 3 others" in mirrored.stdout
    assert vecq("verify", str(source), *common).returncode == 0


def test_a_dry_run_counts_and_names_errors_and_enqueues_nothing(
    data_dir: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "d.key"
    assert (
        vecq("index", "create", "d", "--dimension", "2", "--key-file", str(key_file)).returncode
        == 0
    )
    common = ["--index", "d", "--key-file", str(key_file)]
    lines = [{"id": i, "vector": [i, 1]} for i in range(10)]
    lines[3]["vector"] = [1, 2, 3]
    lines[7]["id"] = -7
    source = tmp_path / "day.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    checked = vecq("ingest", str(source), *common, "--dry-run", "--chunk-rows", "4", "--json")
    assert checked.returncode == 2, checked.stderr
    report = json.loads(checked.stdout)
    assert (report["read"], report["valid"], report["rejected"]) == (10, 8, 2)
    assert "line 4 (id 3): vector has 3 dimensions" in report["errors"][0]
    assert "line 8: id -7 is outside" in report["errors"][1]
    assert "nothing was enqueued" in checked.stderr
    described = json.loads(vecq("index", "describe", "d", "--json").stdout)
    assert described["points"] == 0 and described["last_seq"] == 0
    source.write_text("".join(json.dumps({"id": i, "vector": [i, 1]}) + "\n" for i in range(5)))
    fine = vecq("ingest", str(source), *common, "--dry-run")
    assert fine.returncode == 0 and "5 records read: 5 valid, 0 rejected" in fine.stdout
    done = vecq("ingest", str(source), *common, "--json")
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["enqueued"], summary["written"]) == ("done", 5, 5)
    assert len(summary["jobs"]) == 1 and summary["exit_status"] == 0


def test_index_pace_caps_and_clears_the_write_rate(data_dir: Path, tmp_path: Path) -> None:
    """`vecq index pace` sets the fleet's write budget, shows it, and 0 removes it; a
    negative rate and a missing index are refused with exit status 2."""
    assert (
        vecq(
            "index", "create", "p", "--dimension", "3", "--key-file", str(tmp_path / "p.key")
        ).returncode
        == 0
    )
    capped = vecq("index", "pace", "p", "--max-write-rate", "2500", "--json")
    assert capped.returncode == 0, capped.stderr
    assert json.loads(capped.stdout)["max_write_rate"] == 2500.0
    shown = vecq("index", "pace", "p")
    assert "max 2,500 points/s" in shown.stdout
    cleared = vecq("index", "pace", "p", "--max-write-rate", "0", "--json")
    assert json.loads(cleared.stdout) is None  # nothing else known before a server write
    negative = vecq("index", "pace", "p", "--max-write-rate", "-1")
    assert negative.returncode == 2 and "-1" in negative.stderr
    missing = vecq("index", "pace", "nope")
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_describe_of_named_vectors_shows_each_vector_and_a_date(
    data_dir: Path, tmp_path: Path
) -> None:
    """An index of named vectors has no one dimension or metric: describe shows its vectors
    (text), or ``vectors``/``sparse_vectors`` (JSON); the creation time is a date to a person."""
    made = vecq(
        "index",
        "create",
        "nv",
        "--vector",
        "text:3:cosine",
        "--vector",
        "img:2:dot",
        "--sparse",
        "bm25:idf",
        "--key-file",
        str(tmp_path / "nv.key"),
    )
    assert made.returncode == 0, made.stderr
    shown = vecq("index", "describe", "nv")
    assert shown.returncode == 0, shown.stderr
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert "dimension" not in fields and "metric" not in fields
    assert fields["vectors"] == "text: 3-d cosine; img: 2-d dot; bm25: sparse (idf)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields["created_at"])
    assert fields["marks"] == "0 tombstones, 0 patches, 0 batches"
    described = json.loads(vecq("index", "describe", "nv", "--json").stdout)
    assert "dimension" not in described and "metric" not in described
    assert described["vectors"]["img"] == {"size": 2, "distance": "dot", "multivector": False}
    assert described["sparse_vectors"] == {"bm25": {"modifier": "idf"}}
    assert isinstance(described["created_at"], int | float)


def test_an_empty_source_empties_only_when_allowed(data_dir: Path, tmp_path: Path) -> None:
    """An empty source writes nothing and says so; with --mirror it is refused unless
    --allow-empty-source, which then deletes every point, whatever --max-delete-fraction."""
    key_file = tmp_path / "e.key"
    assert (
        vecq("index", "create", "e", "--dimension", "2", "--key-file", str(key_file)).returncode
        == 0
    )
    common = ["--index", "e", "--key-file", str(key_file)]
    source = tmp_path / "full.jsonl"
    source.write_text("".join(json.dumps({"id": i, "vector": [i, 1]}) + "\n" for i in range(4)))
    filled = vecq("ingest", str(source), *common)
    assert filled.returncode == 0, filled.stderr
    assert "full.jsonl: 1 chunk(s), enqueued 4 records" in filled.stdout
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    nothing = vecq("ingest", str(empty), *common)
    assert nothing.returncode == 0, nothing.stderr
    assert "nothing to write: the source holds no records" in nothing.stdout + nothing.stderr
    assert "earlier run" not in nothing.stdout + nothing.stderr
    refused = vecq("ingest", str(empty), *common, "--mirror")
    assert refused.returncode == 1 and "--allow-empty-source" in refused.stderr
    emptied = vecq("ingest", str(empty), *common, "--mirror", "--allow-empty-source", "--json")
    assert emptied.returncode == 0, emptied.stderr
    assert json.loads(emptied.stdout)["deleted"] == 4
    described = json.loads(vecq("index", "describe", "e", "--json").stdout)
    assert described["points"] == 0


def test_help_examples_keep_their_line_breaks() -> None:
    """A help epilog's continued example stays on its own lines (a lone backslash in the
    source string joined them into one)."""
    for command in (["index"], ["ingest"]):
        shown = vecq(*command, "--help")
        assert shown.returncode == 0, shown.stderr
        for line in shown.stdout.splitlines():
            assert not re.search(r"\S {4,}--", line), line
        assert re.search(r" \\\n {6}--", shown.stdout), shown.stdout
