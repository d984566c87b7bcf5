"""The keys of ``vecq schedule``'s file, each described once: the parser (``etl_config.py``)
accepts these and no other, ``vecq schedule --help`` lists them from here, and a test keeps
docs/cli.md in step. Imports nothing heavy: the command line's parser reads it."""

from __future__ import annotations

from vecq.api import defaults

# Every key a [[sources]] table may hold and what it means: the parser accepts these and no
# other, and `vecq schedule --help` and docs/cli.md describe them from here.
SOURCE_KEYS = {
    "name": "names the source in logs and in --list (unique)",
    "index": "the index to load into; it must exist (vecq never creates it here)",
    "paths": "files, folders, globs or object URLs (s3://bucket/prefix/; none matching yet is "
    "fine), or one postgresql:// URL",
    "key_file": "a file holding the index key (or key_env)",
    "key_env": "an environment variable holding the index key in hex (or key_file)",
    "every": "run every 30s, 15m, 6h or 1d (or cron)",
    "cron": "run at a cron time in UTC, e.g. '0 2 * * *' (or every)",
    "chunk_rows": f"records per chunk (default: {defaults.chunk_size_text()})",
    "mode": "'ingest' (add and update; the default) or 'mirror' (then delete the ids the "
    "source no longer holds)",
    "max_delete_fraction": "mirror: stop before deleting more of the index than this share "
    f"(default {defaults.MAX_DELETE_FRACTION:g})",
    "table": "a postgresql:// source: the table to read (or query)",
    "query": "a postgresql:// source: the SELECT to read (or table)",
    "since_column": "a postgresql:// source: read only the rows past this schedule's "
    "watermark on this column",
    "columns": "a [sources.columns] table: the source's columns, as vecq ingest's flags map them",
}
# The keys of a [sources.columns] table.
COLUMN_KEYS = {
    "id": "the id column (default: id)",
    "vector": "the vector column (default: vector)",
    "vectors": "named vectors: { NAME = COLUMN, ... } (a list or list-of-lists column)",
    "sparse": "sparse vectors: { NAME = [INDICES_COLUMN, VALUES_COLUMN], ... }",
    "metadata": "the metadata columns (default: every column not mapped otherwise)",
    "item": "a binary item column",
}


def describe(width: int = 88) -> str:
    """The schedule file's keys, one entry each, wrapped to ``width`` (``vecq schedule --help``)."""
    import textwrap

    column = max(map(len, [*SOURCE_KEYS, *COLUMN_KEYS])) + 4
    entries = [(f"  {key}", meaning) for key, meaning in SOURCE_KEYS.items()]
    entries.append(("  [sources.columns]", ""))
    entries += [(f"    {key}", meaning) for key, meaning in COLUMN_KEYS.items()]
    lines = []
    for key, meaning in entries:
        wrapped = textwrap.wrap(meaning, width - column) or [""]
        lines.append(f"{key:<{column}}{wrapped[0]}".rstrip())
        lines += [" " * column + rest for rest in wrapped[1:]]
    return "\n".join(lines)
