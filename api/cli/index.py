"""``vecq index create | list | describe | delete | pace``: indexes from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers

EPILOG = """\
examples:
  vecq index create products --dimension 768 --shards 8 --key-file products.key \
      --payload-index lang:keyword --payload-index tenant:keyword:tenant
  vecq index create docs --vector text:768:cosine --vector image:512:dot \
      --vector colbert:128:cosine:multi --sparse bm25:idf      # named vectors
  vecq index attach products --collection products   # an existing collection on a server
  vecq index list
  vecq index describe products
  vecq index delete products --key-file products.key --yes
  vecq index pace products --max-write-rate 5000    # points/s, fleet-wide; 0 removes it

The key is written to --key-file (default NAME.key) readable by its owner only, and never
printed unless --print-key is given. The file holds the key as 64 hex digits, which is
what everything takes: `vecq ingest --key-file`, VECQ_INDEX_KEY=$(cat NAME.key), and
client.load_index(NAME, key_file="NAME.key") or load_index(NAME, "<the hex>").
"""


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq index`` and its five sub-commands."""
    p = sub.add_parser(
        "index",
        help="create, list, describe or delete indexes",
        description="Creates, lists, describes and deletes indexes (one Qdrant collection each).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True)
    _add_create(actions)
    _add_attach(actions)
    listing = actions.add_parser("list", help="every index with its dimension, shards, metric")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=run, action_run=_list)
    describe = actions.add_parser(
        "describe", help="one index: its entry, points stored, work in flight, marks kept"
    )
    describe.add_argument("name")
    describe.add_argument("--json", action="store_true", help="print JSON")
    describe.set_defaults(run=run, action_run=_describe)
    delete = actions.add_parser("delete", help="delete an index, its collection and its points")
    delete.add_argument("name")
    delete.add_argument("--key-file", type=Path, required=True, help="the index's key file")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(run=run, action_run=_delete)
    paced = actions.add_parser(
        "pace", help="the fleet's pace of writes into an index on a server; cap its write rate"
    )
    paced.add_argument("name")
    paced.add_argument("--max-write-rate", type=float, metavar="POINTS_PER_S",
                       help="cap the writes of every worker together (0: no cap)")  # fmt: skip
    paced.add_argument("--json", action="store_true", help="print JSON")
    paced.set_defaults(run=run, action_run=_pace)


def _add_create(actions: Any) -> None:
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
    create.add_argument("--shards", type=int, default=4, help="Qdrant shards (default 4)")
    create.add_argument("--metric", default="cosine",
                        choices=["cosine", "dot", "euclid", "manhattan"])  # fmt: skip
    create.add_argument("--key-file", type=Path, help="where to write the key (NAME.key)")
    create.add_argument("--reuse-key", action="store_true",
                        help="the key file exists: create the index with its key")  # fmt: skip
    create.add_argument("--print-key", action="store_true", help="also print the key (hex)")
    create.add_argument("--payload-index", action="append", default=[], metavar="FIELD:TYPE",
                        help="index a metadata field in Qdrant (repeatable): TYPE is keyword, "
                        "integer, float, bool, geo, text, datetime or uuid; add :tenant "
                        "(keyword, uuid) or :principal (integer, float, datetime)")  # fmt: skip
    create.set_defaults(run=run, action_run=_create)


def _add_attach(actions: Any) -> None:
    attach = actions.add_parser(
        "attach", help="write into an existing collection of a Qdrant server (its schema read)"
    )
    attach.add_argument("name", help="the index name vecq will know it by")
    attach.add_argument("--collection", help="the existing collection (default: NAME)")
    attach.add_argument("--shards", type=int, default=4,
                        help="vecq's parallel batches (default 4)")  # fmt: skip
    attach.add_argument("--key-file", type=Path, help="where to write the key (NAME.key)")
    attach.add_argument("--reuse-key", action="store_true",
                        help="the key file exists: attach with its key")  # fmt: skip
    attach.add_argument("--replace-existing", action="store_true",
                        help="points written without vecq count as older than vecq's writes "
                        "(replaced, deleted); without it such a collection is refused")  # fmt: skip
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
        return _fail("give --dimension (one unnamed vector) or --vector/--sparse (named "
                     "vectors), one of the two", ExitStatus.USAGE)  # fmt: skip
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
            return _fail(f"{path} exists; pass --reuse-key to create the index with its key, "
                         "or choose another --key-file", ExitStatus.USAGE)  # fmt: skip
        key = read_key_file(path) if path.exists() else generate_key()
        index = client.create_index(args.name, key, shards=args.shards, metric=args.metric,
                                    payload_indexes=fields, **shape)  # fmt: skip
        if not path.exists():
            try:
                _write_private(path, key.hex() + "\n")
            except OSError as exc:
                client.delete_index(args.name, key)
                return _fail(f"cannot write {path} ({exc.strerror}); the index was not created",
                             ExitStatus.FAILED)  # fmt: skip
    schema = index.info.schema
    shape_text = (f"dimension {index.dimension}, {index.metric}" if schema is None
                  else f"vectors {schema.describe()}")  # fmt: skip
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
        return _fail(f"{path} exists; pass --reuse-key to attach with its key, or choose "
                     "another --key-file", ExitStatus.USAGE)  # fmt: skip
    key = read_key_file(path) if path.exists() else generate_key()
    with Client(worker=False) as client:
        existing = "replace" if args.replace_existing else "refuse"
        index = client.attach_index(args.name, key, collection=args.collection,
                                    shards=args.shards, existing=existing)  # fmt: skip
        if not path.exists():
            try:
                _write_private(path, key.hex() + "\n")
            except OSError as exc:
                client.delete_index(args.name, key)
                return _fail(
                    f"cannot write {path} ({exc.strerror}); nothing was attached", ExitStatus.FAILED
                )
    schema = index.info.schema
    shape = (f"dimension {index.dimension}, {index.metric}" if schema is None
             else f"vectors {schema.describe()}")  # fmt: skip
    print(f"attached index {index.name!r} to collection {index.info.collection!r}: {shape}; "
          f"key in {path} (owner-only)")  # fmt: skip
    return ExitStatus.OK


def _list(args: argparse.Namespace) -> ExitStatus:
    from vecq import Client
    from vecq.shared.state import registry

    with Client(worker=False) as client:
        entries = [registry.get(client.redis, n) for n in client.list_indexes()]
    if args.json:
        print(json.dumps([_entry(e) for e in entries], indent=2))
        return ExitStatus.OK
    if not entries:
        print("no indexes (create one with `vecq index create NAME --dimension D`)")
    for e in entries:
        schema = e.schema
        if schema is None:
            print(f"{e.name:30}  dim {e.dimension:6}  shards {e.shards:4}  {e.metric}")
        else:
            print(f"{e.name:30}  vectors {', '.join(schema.names)}  shards {e.shards:4}")
    return ExitStatus.OK


def _describe(args: argparse.Namespace) -> ExitStatus:
    from vecq import Client
    from vecq.shared.state import job_state, marks, registry

    with Client(worker=False) as client:
        info = registry.get(client.redis, args.name)
        out: dict[str, Any] = _entry(info)
        try:
            out["points"] = client.engine.count(info)
            out["payload_indexes"] = [p.describe() for p in client.engine.payload_indexes(info)]
        except Exception as exc:  # an Edge or local-mode folder held by a `vecq worker`
            out["points"] = None
            out["points_error"] = str(exc)
        held = marks.held(client.redis, info.name)
        out["inflight_bytes"] = job_state.inflight(client.redis, info.name)
        out["last_seq"] = held.last
        out["oldest_unsettled_seq"] = held.watermark if held.watermark <= held.last else None
        out["marks"] = {"tombstones": held.tombstones, "patches": held.patches,
                        "batches": held.batches}  # fmt: skip
    if args.json:
        print(json.dumps(out, indent=2))
        return ExitStatus.OK
    for name, value in out.items():
        print(f"{name:22} {value}")
    return ExitStatus.OK


def _pace(args: argparse.Namespace) -> ExitStatus:
    import time

    from vecq import Client
    from vecq.shared.state import pace, registry

    with Client(worker=False) as client:
        registry.get(client.redis, args.name)  # IndexNotLoadedError names a missing index
        if args.max_write_rate is not None:
            if args.max_write_rate < 0:
                return _fail(
                    f"--max-write-rate must be >= 0, not {args.max_write_rate:g}", ExitStatus.USAGE
                )
            pace.set_max_write_rate(client.redis, args.name, args.max_write_rate)
        state = pace.read(client.redis, args.name, time.time())
    if args.json:
        print(json.dumps(state.as_dict() if state else None, indent=2))
    elif state is None:
        print(f"{args.name}: not written to a Qdrant server yet (no pace)")
    else:
        print(f"{args.name}: {state.describe()}")
    return ExitStatus.OK


def _delete(args: argparse.Namespace) -> ExitStatus:
    from vecq import Client
    from vecq.shared.crypto import read_key_file

    key = read_key_file(args.key_file)
    if not args.yes:
        if not sys.stdin.isatty():
            return _fail("no terminal to confirm the delete on: add --yes", ExitStatus.USAGE)
        try:
            answer = input(f"delete index {args.name!r} and every point in it? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return ExitStatus.FAILED
    with Client(worker=False) as client:
        client.delete_index(args.name, key)
    print(f"deleted index {args.name!r}")
    return ExitStatus.OK


def run(args: argparse.Namespace) -> ExitStatus:
    """Run the chosen ``vecq index`` action; its exit status (see ``exits.status_of``)."""
    from vecq.shared.errors import VecqError

    try:
        status: ExitStatus = args.action_run(args)
    except VecqError as exc:
        return _fail(str(exc), status_of(exc))
    return status


def _entry(info: Any) -> dict[str, Any]:
    entry = {"name": info.name, "dimension": info.dimension, "shards": info.shards,
             "metric": info.metric, "shard_function": info.shard_function,
             "layout": info.layout, "created_at": info.created_at}  # fmt: skip
    if info.schema is not None:
        entry["vectors"] = info.vectors or {}
        entry["sparse_vectors"] = info.sparse_vectors or {}
    if info.attached_to is not None:
        entry["attached_to"] = info.attached_to
        entry["replace_foreign"] = info.replace_foreign
    return entry


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner may read (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _fail(message: str, status: ExitStatus) -> ExitStatus:
    print(f"vecq index: {message}", file=sys.stderr)
    return status
