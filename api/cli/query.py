"""``vecq query``: search an index from the command line (embedded, local mode or a server)."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from vecq.api.cli.exits import ExitStatus, status_of
from vecq.api.cli.options import Subparsers, positive_int

EPILOG = """\
examples:
  vecq query products --vector '[0.12, -0.5, 0.33]' --key-file products.key
  vecq query products --vector @query.npy --limit 5 --filter '{"lang": "en"}'
  vecq query products --vector @query.json --filter '{"year": {"gte": 2020}}' --json
  vecq query docs --using text --vector @q.json --with-items
  vecq query docs --prefetch '{"using": "text", "vector": [0.1, 0.2, 0.3], "limit": 50}' \\
      --prefetch '{"using": "bm25", "vector": {"indices": [3, 9], "values": [0.5, 1.2]}}'

A vector is JSON on the command line, @FILE (a .npy file, or JSON), or - (JSON on stdin):
a list of numbers, a list of rows (a multivector) or {"indices", "values"} (sparse).
A filter is {field: value} (a list matches any of its values; {"gte": ..} is a range) or
Qdrant's own filter form ({"must": [...]}). Prefetches are fused by RRF unless --fusion
says dbsf, or rescored by --vector.
"""


def add_parser(sub: Subparsers) -> None:
    """Register ``vecq query``."""
    p = sub.add_parser(
        "query",
        help="search an index: the points nearest a vector, with filters and hybrid fusion",
        description="Prints the points nearest a vector, best first, with their scores and "
        "metadata. With the embedded default, the running service answers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="the index")
    p.add_argument("--vector", help="the query vector: JSON, @FILE or - (stdin)")
    p.add_argument("--using", help="which named vector to search (an index with named vectors)")
    p.add_argument("--limit", type=positive_int, default=10, help="results (default 10)")
    p.add_argument("--filter", help="a filter as JSON: {field: value} or Qdrant's form")
    p.add_argument(
        "--prefetch",
        action="append",
        default=[],
        metavar="JSON",
        help='one search to fuse: {"vector", "using", "limit", "filter"} (repeatable)',
    )
    p.add_argument("--fusion", choices=("rrf", "dbsf"), help="how prefetches are fused")
    p.add_argument("--score-threshold", type=float, help="leave out results scored worse")
    p.add_argument("--with-items", action="store_true", help="print each point's item too")
    p.add_argument("--with-vectors", action="store_true", help="print each point's vector too")
    p.add_argument("--key-file", type=Path, help="the index key file (default VECQ_INDEX_KEY)")
    p.add_argument("--json", action="store_true", help="print JSON (items base64)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> ExitStatus:
    """Run ``vecq query``; return the exit status."""
    from vecq import Client
    from vecq.api.cli.sources import key_from
    from vecq.shared.errors import VecqError

    try:
        key = key_from(args.key_file)
        vector = None if args.vector is None else _vector(args.vector)
        prefetch = [_json(stage, "--prefetch") for stage in args.prefetch]
        for stage in prefetch:
            if isinstance(stage, dict) and isinstance(stage.get("vector"), str):
                stage["vector"] = _vector(stage["vector"])
        where = None if args.filter is None else _json(args.filter, "--filter")
    except (ValueError, OSError) as exc:
        print(f"vecq query: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    with Client() as client:
        try:
            index = client.load_index(args.name, key)
            results = index.query(
                vector,
                limit=args.limit,
                filter=where,
                using=args.using,
                prefetch=prefetch,
                fusion=args.fusion,
                score_threshold=args.score_threshold,
                with_items=args.with_items,
                with_vectors=args.with_vectors,
            )
        except VecqError as exc:
            print(f"vecq query: {exc}", file=sys.stderr)
            return status_of(exc)
    for result in results:
        if result.get("item") is not None:
            result["item"] = base64.b64encode(result["item"]).decode()
    if args.json:
        print(json.dumps(results, indent=2))
        return ExitStatus.OK
    for result in results:
        print(_line(result))
    if not results:
        print("no results", file=sys.stderr)
    return ExitStatus.OK


def _line(result: dict[str, Any]) -> str:
    parts = [f"{result['score']:.6g}", f"id={result['id']!r}"]
    if result["metadata"]:
        parts.append(json.dumps(result["metadata"], sort_keys=True))
    if "item" in result:
        parts.append(f"item={result['item']}")
    if "vector" in result:
        parts.append(f"vector={json.dumps(result['vector'])}")
    return "  ".join(parts)


def _vector(text: str) -> Any:
    """A vector from JSON on the command line, ``@FILE`` (.npy or JSON) or ``-`` (stdin)."""
    if text == "-":
        return _json(sys.stdin.read(), "the vector on stdin")
    if text.startswith("@"):
        path = Path(text[1:])
        if path.suffix == ".npy":
            import numpy as np

            try:
                return np.load(path, allow_pickle=False)
            except ValueError as exc:
                raise ValueError(f"{path}: not a .npy file of numbers ({exc})") from None
        return _json(path.read_text(), str(path))
    return _json(text, "--vector")


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from None
