"""The embedded service's contract: where it leaves its files, and how engine calls travel.

One service runs per data directory (``workers/service_host.py``): the embedded Redis and the
one process that opens the Edge shards. It holds ``vecq.lock`` for its life (the kernel
drops the lock when the process dies, so a stale ``service.json`` is harmless) and writes
``service.json`` once it answers. Starters queue on ``service.start.lock``.

Engine calls from other processes (``api/service_proxy.py``) are Redis messages: a request
is JSON pushed to :data:`keys.SERVICE_REQUESTS`; the reply is pushed to the key the request
names, framed as a 4-byte length, a JSON header and the points' float32 vectors as raw
bytes (never JSON numbers). The calls are the :class:`~vecq.shared.engines.Engine`
protocol's methods, their arguments and results framed as its annotations say: a new
method there is answered by the service with no change here or in the host.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import struct
import time
import typing
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis

from vecq.shared import engines, errors, keys
from vecq.shared.config import data_dir as data_dir_rules
from vecq.shared.config import processes
from vecq.shared.engines import Hit, StoredPoint
from vecq.shared.points.payload_indexes import PayloadIndex
from vecq.shared.points.query import Search
from vecq.shared.state import registry
from vecq.shared.state.registry import IndexInfo

LOCK = "vecq.lock"
START_LOCK = "service.start.lock"
STATE = "service.json"
LOG = "service.log"
# The name every attached client's Redis connections carry (the service counts them).
CLIENT_NAME = "vecq-attached"
_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class ServiceState:
    """What ``service.json`` says about a running service."""

    pid: int
    version: str
    started_at: float
    redis_url: str
    broker_url: str
    engine: str
    engine_location: str
    idle_timeout: float

    @classmethod
    def read(cls, data_dir: str | Path) -> ServiceState | None:
        """The state file's contents, or ``None`` if there is none, it cannot be read, or it is
        not this user's own file (a file someone else left names nothing to attach to)."""
        raw = data_dir_rules.read_own(Path(data_dir) / STATE)
        try:
            return None if raw is None else cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None

    def write(self, data_dir: str | Path) -> None:
        """Write the state file atomically (a reader never sees half of it)."""
        path = Path(data_dir) / STATE
        part = path.with_suffix(f".{os.getpid()}.part")
        part.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        with os.fdopen(data_dir_rules.open_private(part, flags), "w") as handle:
            handle.write(json.dumps(asdict(self)))
        part.replace(path)

    @property
    def uptime(self) -> float:
        """Seconds since the service started."""
        return max(0.0, time.time() - self.started_at)

    def alive(self) -> bool:
        """True if the process named in the file exists (and is no zombie)."""
        return processes.alive(self.pid)


def remove_state(data_dir: str | Path, pid: int) -> None:
    """Remove ``service.json`` if it is still the one process ``pid`` wrote."""
    state = ServiceState.read(data_dir)
    if state is not None and state.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            (Path(data_dir) / STATE).unlink()


# --- engine calls -------------------------------------------------------------------------

# The one call that is not an engine's: stop the service (``vecq down``).
SHUTDOWN = "shutdown"
# Arguments and results of these types travel as their fields (a JSON object).
_RECORDS: tuple[type[Any], ...] = (IndexInfo, PayloadIndex, Search)


@functools.cache
def engine_calls() -> frozenset[str]:
    """The calls the service answers for attached processes: every method of the
    :class:`~vecq.shared.engines.Engine` protocol (reads and administration) but ``close``."""
    methods = {name for name, value in vars(engines.Engine).items() if inspect.isfunction(value)}
    return frozenset(name for name in methods if not name.startswith("_")) - {"close"}


@functools.cache
def _hints(op: str) -> dict[str, Any]:
    return typing.get_type_hints(getattr(engines.Engine, op), vars(engines))


def send(r: redis.Redis, op: str, **args: Any) -> str:
    """Push one call to the service; return the key its reply will be pushed to."""
    reply_to = keys.service_reply(uuid.uuid4().hex)
    r.rpush(keys.SERVICE_REQUESTS, request(op, reply_to, **args))
    return reply_to


def request(op: str, reply_to: str, **args: Any) -> bytes:
    """One call as the bytes pushed to the request list."""
    encoded = {name: asdict(v) if isinstance(v, _RECORDS) else v for name, v in args.items()}
    return json.dumps({"op": op, "reply": reply_to, "args": encoded}).encode()


def parse_request(raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """``(op, reply key, arguments as sent)`` of a request (see :func:`decode_args`)."""
    body = json.loads(raw)
    return str(body["op"]), str(body["reply"]), dict(body.get("args") or {})


def decode_args(op: str, args: dict[str, Any]) -> dict[str, Any]:
    """An engine call's arguments rebuilt as the :class:`~vecq.shared.engines.Engine`
    method's annotations say; an index name that is no index's is refused here."""
    args = dict(args)
    if op in engine_calls():
        hints = _hints(op)
        for name, value in args.items():
            cls = hints.get(name)
            if cls in _RECORDS and value is not None:
                args[name] = cls.from_dict(value) if hasattr(cls, "from_dict") else cls(**value)
                if isinstance(args[name], IndexInfo):
                    registry.check_name(args[name].name)  # before any engine sees it
    return args


def encode_result(op: str, value: Any) -> bytes:
    """The reply to engine call ``op``, as its return annotation says to frame it: points
    with their vectors as raw floats, records as their fields, anything else as JSON."""
    returns = _hints(op)["return"]
    if returns == list[StoredPoint]:
        return reply(points=value)
    if returns == list[Hit]:
        scores = [hit.score for hit in value]
        return reply(scores, points=[StoredPoint(h.id, h.vector, h.payload) for h in value])
    if returns == tuple[list[StoredPoint], Any]:
        points, following = value
        if following is not None and not isinstance(following, int | str):
            following = str(following)  # a UUID point id
        return reply(following, points=points)
    if returns == list[PayloadIndex]:
        return reply([found.to_dict() for found in value])
    return reply(list(value) if isinstance(value, tuple) else value)


def decode_result(op: str, raw: bytes) -> Any:
    """What engine call ``op`` returned, from its reply (or raise the error it carries)."""
    returns = _hints(op)["return"]
    result, points = parse_reply(raw)
    if returns == list[StoredPoint]:
        return [StoredPoint(*p) for p in points or []]
    if returns == list[Hit]:
        found = points or []
        return [Hit(p[0], float(s), p[1], p[2]) for p, s in zip(found, result, strict=True)]
    if returns == tuple[list[StoredPoint], Any]:
        return [StoredPoint(*p) for p in points or []], result
    if returns == list[PayloadIndex]:
        return [PayloadIndex(**found) for found in result]
    if result is not None and returns == tuple[int, str] | None:
        return int(result[0]), str(result[1])
    return result


def reply(result: Any = None, points: Sequence[Any] | None = None) -> bytes:
    """A successful reply: ``result`` (JSON) and, for reads, the points with their vectors.

    The header gives each point's vector shape: a length (the unnamed vector), or for named
    vectors ``{name: ["dense", size] | ["multi", rows, size] | ["sparse", nonzeros]}``. The
    floats follow the header in that order; sparse indices follow the floats as uint32.
    """
    header: dict[str, Any] = {"ok": True, "result": result}
    blob = b""
    if points is not None:
        header["points"] = [[p.id, p.payload] for p in points]
        floats: list[Any] = []
        indices: list[Any] = []
        header["lengths"] = [_shape(p.vector, floats, indices) for p in points]
        values = np.concatenate(floats) if floats else np.empty(0, dtype=np.float32)
        header["floats"] = int(values.size)
        blob = values.astype("<f4").tobytes()
        if indices:
            blob += np.concatenate(indices).astype("<u4").tobytes()
    return _frame(header, blob)


def _shape(vector: Any, floats: list[Any], indices: list[Any]) -> Any:
    if not isinstance(vector, dict):
        floats.append(np.asarray(vector, dtype=np.float32).ravel())
        return len(vector)
    shape = {}
    for name, value in vector.items():
        if isinstance(value, dict):
            floats.append(np.asarray(value["values"], dtype=np.float32))
            indices.append(np.asarray(value["indices"], dtype=np.uint32))
            shape[name] = ["sparse", len(value["values"])]
        elif value and isinstance(value[0], (list, tuple)):
            rows = np.asarray(value, dtype=np.float32)
            floats.append(rows.ravel())
            shape[name] = ["multi", rows.shape[0], rows.shape[1]]
        else:
            floats.append(np.asarray(value, dtype=np.float32))
            shape[name] = ["dense", len(value)]
    return shape


def parse_reply(raw: bytes) -> tuple[Any, list[tuple[Any, Any, dict[str, Any]]] | None]:
    """``(result, points)`` of a reply (each point ``(id, vector, payload)``), or raise the
    error it carries."""
    (size,) = _HEADER.unpack_from(raw)
    header = json.loads(raw[_HEADER.size : _HEADER.size + size])
    if not header["ok"]:
        raise _error(header["error"], header["message"])
    if "points" not in header:
        return header["result"], None
    at_floats = _HEADER.size + size
    count = int(header["floats"])
    floats = np.frombuffer(raw, dtype="<f4", count=count, offset=at_floats)
    indices = np.frombuffer(raw, dtype="<u4", offset=at_floats + 4 * count)
    points, at, at_index = [], 0, 0
    for (point_id, payload), shape in zip(header["points"], header["lengths"], strict=True):
        if isinstance(shape, int):
            points.append((point_id, floats[at : at + shape].tolist(), payload))
            at += shape
            continue
        vector: dict[str, Any] = {}
        for name, (kind, *dims) in shape.items():
            length = int(np.prod(dims))
            values = floats[at : at + length]
            at += length
            if kind == "sparse":
                vector[name] = {
                    "indices": indices[at_index : at_index + length].tolist(),
                    "values": values.tolist(),
                }
                at_index += length
            else:
                vector[name] = values.reshape(dims).tolist()
        points.append((point_id, vector, payload))
    return header["result"], points


def failure(exc: BaseException, engine: str = "") -> bytes:
    """A reply carrying an exception: its class name (vecq's errors are raised again as such)
    and its message; an engine's own error says which engine (``engine``) it came from."""
    message = str(exc)
    if engine and not isinstance(exc, errors.VecqError):
        message = f"{engine}: {message}"
    return _frame({"ok": False, "error": type(exc).__name__, "message": message}, b"")


def _frame(header: dict[str, Any], blob: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return _HEADER.pack(len(encoded)) + encoded + blob


def _error(name: str, message: str) -> BaseException:
    """vecq's own error classes come back as themselves; anything else as a VecqError."""
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.VecqError):
        with contextlib.suppress(TypeError):  # one whose constructor wants more than a message
            return cls(message)
    if name == "TimeoutError":
        return TimeoutError(message)
    return errors.VecqError(f"the vecq service failed: {name}: {message}")
