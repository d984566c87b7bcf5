"""The embedded data directory is private to its owner: the Redis (every vector and all
metadata, in its append-only file), the Edge shards, the service's state file and logs.

A new one is made ``0700``; an existing one must belong to this user (else it is refused),
must not be writable by others (else it is refused: anything in it could have been planted)
and is tightened to ``0700``. Files in it are opened without following symbolic links and
read only when this user owns them, so a planted ``service.json`` names nothing and a planted
link never points a log elsewhere.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vecq.shared.errors import ServiceError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def prepare(path: str | Path) -> Path:
    """Make or check the data directory ``path`` (see the module docstring); its path."""
    directory = Path(path).absolute()
    try:
        directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        found = directory.stat()
    except OSError as exc:
        raise ServiceError(
            f"cannot use {directory} as the data directory: {exc.strerror or exc} (is the disk "
            "read-only?); set VECQ_DATA_DIR to a writable folder of yours"
        ) from exc
    if found.st_uid != os.getuid():
        raise ServiceError(
            f"the data directory {directory} belongs to uid {found.st_uid}, not to you "
            f"(uid {os.getuid()}): its Redis and files would be another user's; set "
            "VECQ_DATA_DIR to a folder of your own"
        )
    if found.st_mode & stat.S_IWOTH:
        raise ServiceError(
            f"the data directory {directory} is writable by every user, so its files cannot be "
            f"trusted; run `chmod 700 {directory}` (after checking what is in it) or set "
            "VECQ_DATA_DIR to a private folder"
        )
    if stat.S_IMODE(found.st_mode) != PRIVATE_DIR:
        directory.chmod(PRIVATE_DIR)
    return directory


def open_private(path: str | Path, flags: int) -> int:
    """A file descriptor of ``path`` opened with ``flags``, never through a symbolic link
    (created ``0600``); ``ServiceError`` naming the file if it is a link."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    except OSError as exc:
        if Path(path).is_symlink():
            raise ServiceError(
                f"{path} is a symbolic link; vecq never writes through one in its data "
                "directory: remove it"
            ) from exc
        raise


def read_own(path: str | Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of this user's (not a link); else
    ``None``: a file someone else left is never believed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode) or found.st_uid != os.getuid():
            return None
        return handle.read()


def no_link(path: str | Path) -> None:
    """Refuse ``path`` if it is a symbolic link: for a file a program vecq starts will write
    (the embedded Redis's log), which would follow it."""
    if Path(path).is_symlink():
        raise ServiceError(
            f"{path} is a symbolic link; vecq never writes through one in its data directory: "
            "remove it"
        )


def socket_owner(path: str) -> int | None:
    """The uid of the process serving the unix socket ``path`` (``None`` if none answers)."""
    import socket
    import struct

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(2)
        try:
            conn.connect(path)
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except OSError:
            return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)
