"""Exit statuses of every ``vecq`` command: one enum, described once (``vecq --help`` and the
table in docs/cli.md are made from :data:`MEANINGS`; a test keeps the docs in step)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """What a ``vecq`` command's exit status says."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


MEANINGS = {
    ExitStatus.OK: "done: everything asked was done (written; enqueued with --no-wait; "
    "verify found no difference)",
    ExitStatus.FAILED: "failed: the command could not do its work (a service out of reach, the "
    "data directory in use, writes that failed, differences found, a mirror refused)",
    ExitStatus.USAGE: "usage: the command line named something wrong (an argument, file, key "
    "or index that does not exist or already does; invalid records)",
    ExitStatus.INTERRUPTED: "interrupted (Ctrl-C): what was enqueued stays enqueued; run the "
    "same command again to resume",
}


def epilog() -> str:
    """The exit statuses as ``vecq --help`` ends with them."""
    return "exit status: " + "; ".join(f"{int(s)} {MEANINGS[s]}" for s in ExitStatus)


def status_of(exc: BaseException) -> ExitStatus:
    """``USAGE`` when the command line named something wrong, else ``FAILED``.

    Usage: a bad argument, value, file or key, an index that does not exist or already
    does. Failure: the command could not do its work (a service unreachable, the data
    directory in use, writes that failed).
    """
    from vecq.shared.errors import IndexExistsError, IndexNotLoadedError, InvalidKeyError

    usage = (ValueError, OSError, IndexExistsError, IndexNotLoadedError, InvalidKeyError)
    return ExitStatus.USAGE if isinstance(exc, usage) else ExitStatus.FAILED
