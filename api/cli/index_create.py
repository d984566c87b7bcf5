"""``vecq index create`` and ``vecq index attach``: a new index (or one over an existing
collection) and its key, written to a file only its owner may read."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vecq.api import defaults
from vecq.api.cli.exits import ExitStatus


def add_create(actions: Any, run: Callable[[argparse.Namespace], ExitStatus]) -> None:
    """Register ``vecq index create``, run by ``run`` (the index command's dispatcher)."""
    create = actions.add_parser("create", help="create an index and write its key to a file")
    create.add_argument("name", help="1-63 letters, digits, '-' or '_'")
    create.add_argument(
        "--dimension", type=int, help="vector length (one unnamed vector; or use --vector/--sparse)"
    )
    create.add_argument(
        "--vector",
        action="append",
        default=[],
        metavar="NAME:SIZE[:DIST][:multi]",
        help="a named dense vector (repeatable); DIST is cosine (default), dot, "
        "euclid or manhattan; :multi makes it a multivector (MaxSim)",
    )
    create.add_argument(
        "--sparse",
        action="append",
        default=[],
        metavar="NAME[:idf]",
        help="a named sparse vector (repeatable); :idf weighs it by IDF",
    )
    create.add_argument(
        "--shards", type=int, default=defaults.SHARDS, help="Qdrant shards (default %(default)s)"
    )
    create.add_argument(
        "--metric", default="cosine", choices=["cosine", "dot", "euclid", "manhattan"]
    )
    create.add_argument("--key-file", type=Path, help="where to write the key (NAME.key)")
    create.add_argument(
        "--reuse-key",
        action="store_true",
        help="the key file exists: create the index with its key",
    )
    create.add_argument("--print-key", action="store_true", help="also print the key (hex)")
    create.add_argument(
        "--payload-index",
        action="append",
        default=[],
        metavar="FIELD:TYPE",
        help="index a metadata field in Qdrant (repeatable): TYPE is keyword, "
        "integer, float, bool, geo, text, datetime or uuid; add :tenant "
        "(keyword, uuid) or :principal (integer, float, datetime)",
    )
    create.set_defaults(run=run, action_run=_create)


def add_attach(actions: Any, run: Callable[[argparse.Namespace], ExitStatus]) -> None:
    """Register ``vecq index attach``, run by ``run``."""
    attach = actions.add_parser(
        "attach", help="write into an existing collection of a Qdrant server (its schema read)"
    )
    attach.add_argument("name", help="the index name vecq will know it by")
    attach.add_argument("--collection", help="the existing collection (default: NAME)")
    attach.add_argument(
        "--shards",
        type=int,
        default=defaults.SHARDS,
        help="vecq's parallel batches (default %(default)s)",
    )
    attach.add_argument("--key-file", type=Path, help="where to write the key (NAME.key)")
    attach.add_argument(
        "--reuse-key", action="store_true", help="the key file exists: attach with its key"
    )
    attach.add_argument(
        "--replace-existing",
        action="store_true",
        help="points written without vecq count as older than vecq's writes "
        "(replaced, deleted); without it such a collection is refused",
    )
    attach.set_defaults(run=run, action_run=_attach)


def _create(args: argparse.Namespace) -> ExitStatus:
    from vecq import Client
    from vecq.shared.crypto import generate_key, read_key_file
    from vecq.shared.errors import IndexExistsError
    from vecq.shared.points.payload_indexes import parse_flag
    from vecq.shared.points.vector_schema import parse_sparse_flag, parse_vector_flag

    path: Path = args.key_file or Path(f"{args.name}.key")
    fields = {f.field: f.spec() for f in map(parse_flag, args.payload_index)}
    named = dict(map(parse_vector_flag, args.vector))
    sparse = dict(map(parse_sparse_flag, args.sparse))
    if (args.dimension is not None) == bool(named or sparse):
        return fail(
            "give --dimension (one unnamed vector) or --vector/--sparse (named "
            "vectors), one of the two",
            ExitStatus.USAGE,
        )
    shape: dict[str, Any] = {"dimension": args.dimension}
    if named or sparse:
        shape = {"vectors": named or None, "sparse_vectors": sparse or None}
    with Client(worker=False) as client:
        if args.name in client.list_indexes():
            raise IndexExistsError(
                f"index {args.name!r} exists: use it with its key file, or delete it first "
                f"(vecq index delete {args.name} --key-file {path})"
            )
        if path.exists() and not args.reuse_key:
            return fail(
                f"{path} exists; pass --reuse-key to create the index with its key, "
                "or choose another --key-file",
                ExitStatus.USAGE,
            )
        key = read_key_file(path) if path.exists() else generate_key()
        index = client.create_index(
            args.name, key, shards=args.shards, metric=args.metric, payload_indexes=fields, **shape
        )
        if not _saved(client, args.name, key, path, "the index was not created"):
            return ExitStatus.FAILED
    schema = index.info.schema
    shape_text = (
        f"dimension {index.dimension}, {index.metric}"
        if schema is None
        else f"vectors {schema.describe()}"
    )
    print(
        f"created index {index.name!r}: {shape_text}, {index.shards} shards; key in {path} "
        "(owner-only)"
    )
    if args.print_key:
        print(key.hex())
    return ExitStatus.OK


def _attach(args: argparse.Namespace) -> ExitStatus:
    from vecq import Client
    from vecq.shared.crypto import generate_key, read_key_file

    path: Path = args.key_file or Path(f"{args.name}.key")
    if path.exists() and not args.reuse_key:
        return fail(
            f"{path} exists; pass --reuse-key to attach with its key, or choose another --key-file",
            ExitStatus.USAGE,
        )
    key = read_key_file(path) if path.exists() else generate_key()
    with Client(worker=False) as client:
        existing = "replace" if args.replace_existing else "refuse"
        index = client.attach_index(
            args.name, key, collection=args.collection, shards=args.shards, existing=existing
        )
        if not _saved(client, args.name, key, path, "nothing was attached"):
            return ExitStatus.FAILED
    schema = index.info.schema
    shape = (
        f"dimension {index.dimension}, {index.metric}"
        if schema is None
        else f"vectors {schema.describe()}"
    )
    print(
        f"attached index {index.name!r} to collection {index.info.collection!r}: {shape}; "
        f"key in {path} (owner-only)"
    )
    return ExitStatus.OK


def _saved(client: Any, name: str, key: bytes, path: Path, undone: str) -> bool:
    """Write a new key file (an existing one holds this key already); if it cannot be
    written, forget the index again and say so (``undone``: what that leaves)."""
    if path.exists():
        return True
    try:
        _write_private(path, key.hex() + "\n")
    except OSError as exc:
        client.delete_index(name, key)
        fail(f"cannot write {path} ({exc.strerror}); {undone}", ExitStatus.FAILED)
        return False
    return True


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner may read (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def fail(message: str, status: ExitStatus) -> ExitStatus:
    """Say what went wrong (``vecq index: ...``) and return ``status``."""
    print(f"vecq index: {message}", file=sys.stderr)
    return status
