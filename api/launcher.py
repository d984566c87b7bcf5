"""Finding, starting and stopping the embedded service of a data directory.

:func:`attach` is what an embedded ``Client()`` (and so every embedded command) calls: it
returns the running service's state, starting the service first if none runs. Starters
queue on a lock, so two commands starting at the same instant share one service. The
service itself is ``workers/service_host.py``, run detached (its own session, its output in
``{data_dir}/service.log``), so it outlives whoever started it and finishes their work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from vecq.shared.config import data_dir as data_dir_rules
from vecq.shared.config.settings import Settings
from vecq.shared.errors import ServiceError, StorageLocked
from vecq.shared.version import version
from vecq.shared.wire import service_protocol as wire

# How long a start may take (imports, Redis's AOF replay, opening the Edge shards).
START_TIMEOUT = 60.0
# How often an attached client checks that its service is alive.
WATCH_SECONDS = 1.0
# How often it tries to start a dead service that failed to start (a disk still full).
RESTART_SECONDS = 3.0
log = logging.getLogger(__name__)

# Services this process started: polled so that a stopped one leaves no zombie behind.
_started: list[subprocess.Popen[bytes]] = []


def running(data_dir: str | Path) -> wire.ServiceState | None:
    """The state of the data directory's service if one runs and its Redis answers."""
    _reap()
    state = wire.ServiceState.read(data_dir)
    if state is None or not state.alive():
        return None
    socket_path = state.redis_url.removeprefix("unix://")
    owner = data_dir_rules.socket_owner(socket_path) if socket_path != state.redis_url else None
    if owner is not None and owner not in (os.getuid(), 0):
        raise ServiceError(
            f"the Redis named by {Path(data_dir) / wire.STATE} ({socket_path}) is served by "
            f"uid {owner}, not by you: refusing to send it anything; remove that file"
        )
    r = redis.Redis.from_url(state.redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        r.ping()
    except (redis.RedisError, OSError):
        return None
    finally:
        r.close()
    return state


def attach(settings: Settings) -> wire.ServiceState:
    """The running service of ``settings.data_dir``, started first if none runs.

    Raises :class:`ServiceError` if it runs another vecq version or cannot start, and
    :class:`StorageLocked` if a process of its own (``Client(worker=True)``) holds the folder.
    """
    data_dir = data_dir_rules.prepare(settings.data_dir)
    state = running(data_dir)
    if state is None:
        with _start_lock(data_dir):
            state = running(data_dir) or _start(settings, data_dir)
    if state.version != version():
        raise ServiceError(
            f"the vecq service of {data_dir} (pid {state.pid}) runs vecq {state.version}, "
            f"this is vecq {version()}: stop it with `vecq down` (its queued work is kept) "
            "and run this again"
        )
    asked = _engine(settings.engine, settings.engine_location)
    if asked != _engine(state.engine, state.engine_location):
        raise ServiceError(
            f"the vecq service of {data_dir} (pid {state.pid}) writes to {state.engine} at "
            f"{state.engine_location}, and this asks for {settings.engine} at "
            f"{settings.engine_location} (VECQ_QDRANT_URL / VECQ_QDRANT_PATH): stop it with "
            "`vecq down` (its queued work is kept) to start it with these settings, or unset "
            "them to use it as it is"
        )
    return state


def _engine(kind: str, location: str) -> tuple[str, str]:
    """An engine and where it is, comparable between a client and its service."""
    return (kind, location) if kind == "server" else (kind, str(Path(location).resolve()))


def stop(data_dir: str | Path, *, now: bool = False, timeout: float | None = None) -> int | None:
    """Ask the service to stop and wait until it has; return its pid, or ``None`` if none ran.

    Without ``now`` it first writes everything queued. Raises :class:`TimeoutError` if it is
    still running after ``timeout`` seconds (it carries on stopping).
    """
    state = running(data_dir)
    if state is None:
        return None
    r = redis.Redis.from_url(state.redis_url, socket_timeout=10)
    try:
        reply_to = wire.send(r, wire.SHUTDOWN, now=now)
        r.blpop([reply_to], timeout=10)
    except (redis.RedisError, OSError):
        pass  # it stopped already, or is stopping
    finally:
        r.close()
    deadline = None if timeout is None else time.monotonic() + timeout
    while state.alive():
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(
                f"the vecq service (pid {state.pid}) is still writing queued work after "
                f"{timeout:g} s; it stops once that is written (`vecq down --now` stops it now, "
                "keeping the queue for the next start)"
            )
        time.sleep(0.1)
        _reap()
    return state.pid


class Watch:
    """Starts the service again if it dies while a client is attached to it.

    Checked every :data:`WATCH_SECONDS`. A service that stopped cleanly (``vecq down``, the
    idle stop) removed its state file and is left stopped; one that died (SIGKILL, a crash)
    left the file naming its dead pid, and is started again here (under the start lock,
    so several watching clients start one). Its Redis outlives it, so this client's
    connections stay good; ``on_restart`` gets the new state.
    """

    def __init__(
        self,
        settings: Settings,
        state: wire.ServiceState,
        on_restart: Callable[[wire.ServiceState], None],
    ) -> None:
        self._settings = settings
        self._state = state
        self._on_restart = on_restart
        self.stopped = False
        """The service was stopped on purpose (``vecq down``) while this client was open."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vecq-service-watch", daemon=True)

    def start(self) -> Watch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WATCH_SECONDS + 5)

    def _run(self) -> None:
        failing: str | None = None
        while not self._stop.wait(WATCH_SECONDS if failing is None else RESTART_SECONDS):
            if self._state.alive():
                continue
            left = wire.ServiceState.read(self._settings.data_dir)
            stopped = left is None or (left.pid != self._state.pid and not left.alive())
            if stopped and failing is None:  # (a failed start removes the dead one's file)
                self.stopped = True
                return  # stopped on purpose: stay stopped
            try:
                state = attach(self._settings)
            except Exception as exc:  # a full disk, say: tried again until it starts
                if str(exc) != failing:
                    log.error(
                        "the vecq service (pid %d) died and does not start again yet (%s); "
                        "trying every %.0f s while this client is open",
                        self._state.pid,
                        exc,
                        RESTART_SECONDS,
                    )
                failing = str(exc)
                continue
            failing = None
            if state.redis_url != self._state.redis_url:
                log.error(
                    "the vecq service (pid %d) died with its Redis; open a new Client",
                    self._state.pid,
                )
                return
            log.warning(
                "the vecq service (pid %d) died; started it again (pid %d)",
                self._state.pid,
                state.pid,
            )
            self._state = state
            self._on_restart(state)


@contextlib.contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        handle = os.fdopen(data_dir_rules.open_private(data_dir / wire.START_LOCK, flags), "a")
    except OSError as exc:
        raise ServiceError(
            f"cannot start the vecq service in {data_dir}: {exc.strerror or exc} (is the disk "
            "read-only?); set VECQ_DATA_DIR to a writable folder"
        ) from exc
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"another process has been starting the vecq service of {data_dir} for "
                        f"{START_TIMEOUT:.0f} s; see {data_dir / wire.LOG}"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        handle.close()


def _start(settings: Settings, data_dir: Path) -> wire.ServiceState:
    """Start the service (the start lock is held) and wait until it answers."""
    if _folder_in_use(data_dir):
        raise StorageLocked(
            f"the data directory {data_dir} is in use by a vecq process of its own (an "
            "in-process Client(worker=True)?); close it, or set VECQ_DATA_DIR to another folder"
        )
    wire.remove_state(data_dir, pid=_state_pid(data_dir))
    log_path = data_dir / wire.LOG
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        log = os.fdopen(data_dir_rules.open_private(log_path, flags), "ab")
    except OSError as exc:
        raise ServiceError(f"cannot write {log_path}: {exc.strerror or exc}") from exc
    offset = log.tell()
    with log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vecq.workers.service_host",
                "--data-dir",
                str(data_dir),
                "--version",
                version(),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(settings, data_dir),
            start_new_session=True,
            close_fds=True,
        )
    _started.append(process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = wire.ServiceState.read(data_dir)
        if state is not None and state.pid == process.pid and running(data_dir):
            return state
        if process.poll() is not None:
            raise ServiceError(
                f"the vecq service of {data_dir} exited at start (status {process.returncode}):"
                f" {_tail(log_path, offset)}"
            )
        time.sleep(0.05)
    process.terminate()
    raise ServiceError(
        f"the vecq service of {data_dir} did not start within "
        f"{START_TIMEOUT:.0f} s: {_tail(log_path, offset)}"
    )


def _folder_in_use(data_dir: Path) -> bool:
    """True if something holds the folder's lock (only called with the start lock held)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    try:
        with os.fdopen(data_dir_rules.open_private(data_dir / wire.LOCK, flags), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


def _state_pid(data_dir: Path) -> int:
    state = wire.ServiceState.read(data_dir)
    return state.pid if state is not None else -1


def _child_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    """The service's environment: ours, with the starter's own settings spelled out."""
    env = {k: v for k, v in os.environ.items() if k not in ("VECQ_REDIS_URL", "VECQ_BROKER_URL")}
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        if value is None or value == f.default or f.name in ("redis_url", "broker_url"):
            continue
        env[f"VECQ_{f.name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    env["VECQ_DATA_DIR"] = str(data_dir)
    return env


def _tail(path: Path, offset: int, lines: int = 1) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return f"see {path}"
    last = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(last) if last else f"no output; see {path}"


def _reap() -> None:
    for process in list(_started):
        if process.poll() is not None:
            _started.remove(process)
