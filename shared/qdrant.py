"""Opening Qdrant the same way on both sides: one facade over server and local mode.

qdrant-client is imported inside the functions, so importing ``shared`` stays light
(numpy, redis and the standard library only) for code that never talks to Qdrant.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from shared import keys
from shared.priority_lock import Serialized
from shared.registry import IndexInfo
from shared.settings import Settings

log = logging.getLogger(__name__)


def open_qdrant(settings: Settings) -> Any:
    """A Qdrant client for ``settings``.

    A server (``qdrant_url``, REST or gRPC, optional API key) or local mode at
    ``qdrant_path``; local mode is not thread-safe, so it comes wrapped so that every call
    takes one lock. Both are driven through the very same client calls.
    """
    from qdrant_client import QdrantClient

    if settings.qdrant_url is not None:
        extra: dict[str, Any] = {}
        grpc = settings.prefer_grpc
        if settings.qdrant_ca_cert:
            # Handed on to the HTTP client (REST); qdrant-client's gRPC channel would use the
            # system's roots instead, so a private CA means REST.
            extra["verify"] = ssl.create_default_context(cafile=settings.qdrant_ca_cert)
            # qdrant-client's version probe ignores ``verify`` and would only fail and warn.
            extra["check_compatibility"] = False
            grpc = False

        def connect(grpc: bool) -> Any:
            return QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key,
                                prefer_grpc=grpc, grpc_port=settings.qdrant_grpc_port,
                                timeout=60, **extra)  # fmt: skip

        client = connect(grpc)
        if grpc and not _grpc_answers(client):
            log.warning(
                "Qdrant gRPC port %d does not answer; using REST (set VECQ_QDRANT_GRPC_PORT, "
                "or VECQ_PREFER_GRPC=false to skip this check)",
                settings.qdrant_grpc_port,
            )
            client.close()
            client = connect(False)
        return client
    path = settings.resolved_qdrant_path
    client = QdrantClient(location=":memory:") if path == ":memory:" else QdrantClient(path=path)
    return Serialized(client, quiet=LOCAL_MODE_WARNINGS)


# qdrant-client warns on every write once a local-mode collection passes 20,000 points.
# The README says what local mode is for; repeating it per batch only fills logs (and under
# ``-W error`` it would turn every later write into a failure).
LOCAL_MODE_WARNINGS = ("Local mode is not recommended",)


def uses_grpc(client: Any) -> bool:
    """True if ``client`` sends points over gRPC (sizes requests; see workers/sink.py)."""
    return bool(getattr(getattr(client, "_client", None), "_prefer_grpc", False))


def _grpc_answers(client: Any) -> bool:
    """Probe the gRPC port once: False if nothing (or nothing Qdrant) answers there.

    A refused or timed-out connection, or a gRPC server without Qdrant's services, means
    REST; an authentication error propagates, since REST would be refused the same way.
    """
    import grpc

    try:
        client.get_collections()
    except grpc.RpcError as exc:
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        unreachable = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.UNIMPLEMENTED)  # fmt: skip
        if code in unreachable:
            return False
        raise
    return True


def create_collection(
    client: Any, info: IndexInfo, name: str, *, local: bool, indexing_threshold: int | None = None
) -> None:
    """Create one shard collection of ``info`` (workers on first write; bulk mode up front).

    On a server it also gets a payload index on the sequence number, which makes the
    conditional upsert's filter cheap (local mode has no payload indexes). Raises what the
    client raises, including when the collection already exists.
    """
    from qdrant_client import models

    distances = {
        "cosine": models.Distance.COSINE,
        "dot": models.Distance.DOT,
        "euclid": models.Distance.EUCLID,
        "manhattan": models.Distance.MANHATTAN,
    }
    params = models.VectorParams(size=info.dimension, distance=distances[info.metric])
    optimizers = None
    if indexing_threshold is not None:
        optimizers = models.OptimizersConfigDiff(indexing_threshold=indexing_threshold)
    client.create_collection(name, vectors_config=params, optimizers_config=optimizers)
    if not local:
        client.create_payload_index(name, keys.PAYLOAD_SEQ, models.PayloadSchemaType.INTEGER)


def is_missing_collection(exc: BaseException) -> bool:
    """True if ``exc`` says a collection does not exist (a server's 404, or local mode's)."""
    from qdrant_client.http.exceptions import UnexpectedResponse

    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 404
    return isinstance(exc, ValueError) and "not found" in str(exc).lower()
