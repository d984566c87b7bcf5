"""``vecq index create | list | describe | delete | pace``: indexes from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vecq.api.cli import index_create
from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers

EPILOG = """\
examples:
  vecq index create products --dimension 768 --shards 8 --key-file products.key \\
      --payload-index lang:keyword --payload-index tenant:keyword:tenant
  vecq index create docs --vector text:768:cosine --vector image:512:dot \\
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
    index_create.add_create(actions, run)
    index_create.add_attach(actions, run)
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
    paced.add_argument(
        "--max-write-rate",
        type=float,
        metavar="POINTS_PER_S",
        help="cap the writes of every worker together (0: no cap)",
    )
    paced.add_argument("--json", action="store_true", help="print JSON")
    paced.set_defaults(run=run, action_run=_pace)


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
        out["marks"] = {
            "tombstones": held.tombstones,
            "patches": held.patches,
            "batches": held.batches,
        }
    if args.json:
        print(json.dumps(out, indent=2))
        return ExitStatus.OK
    for name, value in _shown(out, info).items():
        print(f"{name:22} {value}")
    return ExitStatus.OK


def _shown(out: dict[str, Any], info: Any) -> dict[str, Any]:
    """``vecq index describe``'s fields as a person reads them: a date, the vectors one per
    line's worth of text, counts in words."""
    import datetime

    shown = dict(out)
    created = datetime.datetime.fromtimestamp(info.created_at, datetime.UTC)
    shown["created_at"] = created.isoformat(timespec="seconds").replace("+00:00", "Z")
    if info.schema is not None:
        shown.pop("sparse_vectors", None)
        shown["vectors"] = info.schema.describe()
    if isinstance(shown.get("payload_indexes"), list):
        shown["payload_indexes"] = ", ".join(shown["payload_indexes"]) or "none"
    marks = shown.pop("marks")
    shown["marks"] = ", ".join(f"{n:,} {kind}" for kind, n in marks.items())
    return shown


def _pace(args: argparse.Namespace) -> ExitStatus:
    import time

    from vecq import Client
    from vecq.shared.state import pace, registry

    with Client(worker=False) as client:
        registry.get(client.redis, args.name)  # IndexNotLoadedError names a missing index
        if args.max_write_rate is not None:
            if args.max_write_rate < 0:
                return index_create.fail(
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
            return index_create.fail(
                "no terminal to confirm the delete on: add --yes", ExitStatus.USAGE
            )
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
        return index_create.fail(str(exc), status_of(exc))
    return status


def _entry(info: Any) -> dict[str, Any]:
    """An index's registry entry as ``--json`` gives it (``created_at`` in Unix seconds). An
    index of named vectors has its ``vectors`` and ``sparse_vectors`` instead of a dimension
    and a metric (each vector has its own)."""
    entry: dict[str, Any] = {"name": info.name}
    if info.schema is None:
        entry.update(dimension=info.dimension, metric=info.metric)
    else:
        entry.update(vectors=info.vectors or {}, sparse_vectors=info.sparse_vectors or {})
    entry.update(
        shards=info.shards,
        shard_function=info.shard_function,
        layout=info.layout,
        created_at=info.created_at,
    )
    if info.attached_to is not None:
        entry["attached_to"] = info.attached_to
        entry["replace_foreign"] = info.replace_foreign
    return entry
