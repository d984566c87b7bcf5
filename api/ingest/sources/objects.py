"""Files in object storage and behind URLs, through fsspec: found, named and read in ranges.

``s3://``, ``gs://``/``gcs://``, ``az://``/``abfs://``/``abfss://`` and ``http(s)://`` name
objects the way paths name files: one object, a prefix (``s3://bucket/embeddings/``, every
data file under it) or a glob (``s3://bucket/2026-11-*/part-*.parquet``). Each protocol's
filesystem comes from its extra (``vecq[s3]``: s3fs, ``vecq[gcs]``: gcsfs, ``vecq[azure]``:
adlfs, ``vecq[http]``: aiohttp), and finds credentials where its SDK looks (environment,
profiles, instance roles; ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` for MinIO and other
S3-compatible stores); vecq never reads, logs or stores them.

An object is read through a file object that fetches ranges on demand (a Parquet file:
its footer, then each row group's column chunks; JSON Lines: front to back), never
downloaded whole. An ``s3://`` Parquet object is read through pyarrow's own S3 filesystem
(the same credential chain as the AWS SDKs, the endpoint passed from ``AWS_ENDPOINT_URL``),
which hands each range straight to the Parquet reader: fsspec's way keeps three copies of
every row group in flight (the HTTP body, the read-ahead block, pyarrow's buffer), 190 MB
more at the peak in bench/objects.py. Resuming knows an object by its URL, size and ETag
(or version).
"""

from __future__ import annotations

import functools
import glob as globbing
import logging
import os
import posixpath
import urllib.parse
from pathlib import PurePosixPath
from typing import IO, Any

from vecq.shared.errors import SourceError, SourceUnreachable
from vecq.shared.redaction import redact

log = logging.getLogger(__name__)

# Which extra installs each protocol's filesystem.
EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "http": "http",
    "https": "http",
}
# How long a look at whether an http(s) source's server answers may take (seconds).
REACH_SECONDS = 10.0
# Bytes fetched per ranged read (and read ahead while reading front to back).
BLOCK_BYTES = 8 * 1024 * 1024
# What identifies an object's content, by filesystem: the first of these its info has.
_VERSION_FIELDS = (
    "ETag",
    "etag",
    "generation",
    "md5Hash",
    "LastModified",
    "last_modified",
    "mtime",
    "updated",
)


def is_remote(location: str) -> bool:
    """True for a URL of one of :data:`EXTRAS`' protocols."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.lower() in EXTRAS


def _without_user(url: str) -> str:
    """``url`` without any user or password in it: what resume state is kept under."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class RemoteFile:
    """One object: what :class:`pathlib.Path` offers the sources (name, suffixes, ``open``),
    and an identity for resuming (URL, size, version)."""

    def __init__(self, fs: Any, url: str, info: dict[str, Any]) -> None:
        self._fs = fs
        self.url = url
        self.size = int(info.get("size") or 0)
        self.version = next((str(info[f]) for f in _VERSION_FIELDS if info.get(f)), "")
        self._path = PurePosixPath(urllib.parse.urlsplit(url).path)

    @property
    def name(self) -> str:
        return self._path.name

    @property
    def suffix(self) -> str:
        return self._path.suffix

    @property
    def suffixes(self) -> list[str]:
        return self._path.suffixes

    def identity(self) -> str:
        """What resume state is kept under: a changed object (size, ETag) is read anew."""
        return f"{_without_user(self.url)}:{self.size}:{self.version}"

    def open(self, mode: str = "rb") -> IO[bytes]:
        """A binary file object reading the object in ranges: what is asked for, and
        :data:`BLOCK_BYTES` ahead (fsspec's read-ahead cache: the fastest of its caches
        for both Parquet's coalesced row-group reads and JSON Lines' front-to-back ones,
        measured against none, first and bytes)."""
        if mode != "rb":
            raise ValueError("objects are read only")
        try:
            handle: IO[bytes] = self._fs.open(
                self.url, "rb", block_size=BLOCK_BYTES, cache_type="readahead"
            )
        except (OSError, ValueError) as exc:
            raise SourceError(f"{self}: cannot open ({exc})") from None
        return handle

    def arrow_input(self) -> Any:
        """What pyarrow reads a Parquet object through: for ``s3://``, an input file of
        pyarrow's S3 filesystem (ranged GETs into Arrow's own buffers); else, or where that
        filesystem cannot open it (anonymous access, a setting only s3fs knows), :meth:`open`."""
        scheme, _, path = self.url.partition("://")
        if scheme.lower() not in ("s3", "s3a"):
            return self.open()
        try:
            return arrow_s3(path.partition("/")[0]).open_input_file(path)
        except (OSError, ValueError, ImportError) as exc:
            log.info("%s: read through s3fs (pyarrow's S3 filesystem: %s)", self, exc)
            return self.open()

    def __str__(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"RemoteFile({redact(self.url)!r}, size={self.size})"


def arrow_s3(bucket: str) -> Any:
    """pyarrow's S3 filesystem for ``bucket``: credentials from the AWS SDK's chain
    (environment, profiles, instance roles), never passed by vecq; the endpoint from
    ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (pyarrow does not read them itself); the
    region from ``AWS_REGION``/``AWS_DEFAULT_REGION``, else, on AWS, the bucket's own."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    if not region and not endpoint:
        region = _bucket_region(bucket)
    return _arrow_s3(endpoint, region)


@functools.cache
def _bucket_region(bucket: str) -> str:
    from pyarrow import fs

    return str(fs.resolve_s3_region(bucket))


@functools.cache
def _arrow_s3(endpoint: str, region: str) -> Any:
    from pyarrow import fs

    options = {"region": region} if region else {}
    if endpoint:
        parts = urllib.parse.urlsplit(endpoint)
        options["endpoint_override"] = parts.netloc or parts.path
        options["scheme"] = parts.scheme or "https"
    return fs.S3FileSystem(**options)


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path within it; ``SourceError`` naming the
    extra to install when its library is missing."""
    scheme = url.partition("://")[0].lower()
    extra = EXTRAS.get(scheme, scheme)
    try:
        import fsspec

        return fsspec.core.url_to_fs(url)  # type: ignore[no-any-return]
    except ImportError:
        raise SourceError(
            f"{redact(url)}: reading {scheme}:// needs pip install 'vecq[{extra}]'"
        ) from None
    except ValueError as exc:
        raise SourceError(f"{redact(url)}: {exc}") from None


def expand(pattern: str, is_data: Any) -> list[tuple[RemoteFile, dict[str, str]]]:
    """The objects ``pattern`` names, sorted, each with the Hive partition values of its key
    (its ``year=2026`` folders).

    ``is_data(file)`` keeps, of a prefix's or glob's objects, the data files. A single
    object named outright is kept whatever its suffix (the caller names what it cannot
    read). An object or prefix that does not exist is a :class:`SourceError`.
    """
    fs, path = filesystem(pattern)
    protocol = pattern.partition("://")[0]
    if protocol.startswith("http"):
        _reach(pattern)  # fsspec reports an unreachable host as "not found", or finds nothing
    endpoint = _endpoint() if protocol in ("s3", "s3a") else None
    if endpoint is not None:  # else botocore retries for a while, then names no setting
        _reach(endpoint[1], f"{pattern} ({endpoint[0]})")
    fs.invalidate_cache()  # a long-lived process (a schedule) must see objects that arrived
    try:
        if globbing.has_magic(path):
            found = fs.glob(path, detail=True)
            listed = {}
            for name, info in found.items():
                listed.update(_listing(fs, name, info))
            return _files(fs, protocol, listed, is_data)
        info = fs.info(path)
    except FileNotFoundError:
        # HTTP servers answer 403 and 404 alike to fsspec: either may be the case there.
        why = ", or it may not be read" if protocol.startswith("http") else ""
        raise SourceError(f"{redact(pattern)}: no such object or prefix{why}") from None
    except (OSError, ValueError) as exc:  # permissions, a wrong endpoint, a bad bucket name
        raise SourceError(f"{redact(pattern)}: {exc}") from None
    if info.get("type") != "directory":
        return [(RemoteFile(fs, _url(fs, protocol, path), info), partitions(path))]
    return _files(fs, protocol, _listing(fs, path, info), is_data)


def _endpoint() -> tuple[str, str] | None:
    """The S3 endpoint the environment sets, as (its variable, the URL), if any."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return name, os.environ[name]
    return None


def _reach(url: str, what: str | None = None) -> None:
    """Raise :class:`SourceUnreachable` naming ``what`` (default: ``url``) and the host if
    ``url``'s server does not answer."""
    import socket

    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=REACH_SECONDS).close()
    except OSError as exc:
        raise SourceUnreachable(
            f"{redact(what or url)}: cannot reach {parts.hostname}:{port} ({exc.strerror or exc})"
        ) from None


def _listing(fs: Any, name: str, info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if info.get("type") == "directory":
        found: dict[str, dict[str, Any]] = fs.find(name, detail=True)
        return found
    return {name: info}


def _files(
    fs: Any, protocol: str, listed: dict[str, dict[str, Any]], is_data: Any
) -> list[tuple[RemoteFile, dict[str, str]]]:
    files = []
    for name in sorted(listed):
        file = RemoteFile(fs, _url(fs, protocol, name), listed[name])
        if listed[name].get("type") != "directory" and is_data(file):
            files.append((file, partitions(name)))
    return files


def _url(fs: Any, protocol: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return f"{protocol}://{path}"


def partitions(path: str) -> dict[str, str]:
    """The ``key=value`` folders of ``path`` (an object's key, a file's path): a
    Hive-partitioned dataset's partition values, URL-decoded; the Hive default partition
    (a NULL) is left out."""
    found = {}
    for segment in posixpath.dirname(path).split("/"):
        key, sep, value = segment.partition("=")
        if sep and key and value != "__HIVE_DEFAULT_PARTITION__":
            found[urllib.parse.unquote(key)] = urllib.parse.unquote(value)
    return found
