"""The source flags shared by ``vecq ingest`` and ``vecq verify``: the columns of tabular
files and tables, and what to read from a PostgreSQL database."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so building the parser stays quick
    from vecq.api.ingest.sources import Source


def add_source_flags(p: argparse.ArgumentParser) -> None:
    """Every flag saying what to read and how: the format, the columns, the SQL."""
    p.add_argument(
        "--format",
        dest="fmt",
        default=None,
        metavar="FORMAT",
        help="jsonl, jsonl.gz, jsonl.bz2, jsonl.zst or parquet: what standard "
        "input ('-') holds (default jsonl), or how to read files whose names do "
        "not say",
    )
    add_column_flags(p)
    add_sql_flags(p)


def add_column_flags(p: argparse.ArgumentParser) -> None:
    """The column-mapping flags of Parquet and JSON Lines files (``api/ingest/mapping.py``)."""
    g = p.add_argument_group("columns (Parquet, JSON Lines and PostgreSQL)")
    g.add_argument("--id-column", metavar="COL", help="the id column (default: id)")
    g.add_argument("--vector-column", metavar="COL", help="the vector column (default: vector)")
    g.add_argument(
        "--vector",
        action="append",
        default=[],
        metavar="NAME=COL",
        help="a named dense vector or multivector from column COL (repeatable)",
    )
    g.add_argument(
        "--sparse",
        action="append",
        default=[],
        metavar="NAME=IDX_COL,VAL_COL",
        help="a named sparse vector from an indices and a values column (repeatable)",
    )
    g.add_argument(
        "--metadata-columns",
        metavar="A,B,C",
        help="the metadata columns (default: every column not mapped otherwise)",
    )
    g.add_argument("--item-column", metavar="COL", help="a binary column of items (Parquet)")


def add_sql_flags(p: argparse.ArgumentParser) -> None:
    """What to read when the source is a ``postgresql://`` URL (``sources/postgres.py``)."""
    g = p.add_argument_group("PostgreSQL (the source is a postgresql://user@host/db URL)")
    g.add_argument("--table", metavar="NAME", help="read this table (schema.table allowed)")
    g.add_argument("--query", metavar="SQL", help="read the rows of this SELECT instead")
    g.add_argument(
        "--since-column",
        metavar="COL",
        help="read only rows whose COL (e.g. updated_at) is past the last "
        "run's watermark; rows sharing the watermark's value are told apart by "
        "id",
    )


def inputs(args: argparse.Namespace) -> tuple[bytes, list[Source]]:
    """The index key and the files a command reading sources names (``--key-file``,
    ``paths``, ``--ids``, ``--id-start``, the column flags); raises what is wrong with them."""
    from vecq.api.ingest.mapping import from_flags
    from vecq.api.ingest.sources.files import open_sources

    mapping = from_flags(
        getattr(args, "id_column", None),
        getattr(args, "vector_column", None),
        getattr(args, "vector", ()),
        getattr(args, "sparse", ()),
        getattr(args, "metadata_columns", None),
        getattr(args, "item_column", None),
    )
    sources = open_sources(
        args.paths,
        args.ids,
        args.id_start,
        mapping=mapping,
        table=getattr(args, "table", None),
        query=getattr(args, "query", None),
        since_column=getattr(args, "since_column", None),
        fmt=getattr(args, "fmt", None),
    )
    return key_from(args.key_file), sources


def key_from(path: Path | None) -> bytes:
    """The index key: from ``--key-file``, else from ``VECQ_INDEX_KEY`` (hex)."""
    from vecq.shared.config.settings import Settings
    from vecq.shared.crypto import key_from_hex, read_key_file

    if path is not None:
        return read_key_file(path)
    env = Settings.from_env().index_key
    if not env:
        raise ValueError("no index key: pass --key-file or set VECQ_INDEX_KEY (hex)")
    return key_from_hex(env, "VECQ_INDEX_KEY")
