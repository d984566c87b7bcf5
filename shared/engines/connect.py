"""Connecting to a Qdrant server: gRPC when its port answers (else REST), TLS, channels.

Used by the client engine (``shared/engines/server.py``) when ``qdrant_url`` is set.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from vecq.shared.config.settings import Settings
from vecq.shared.engines.grpc_channel import STREAMS_PER_CHANNEL

log = logging.getLogger(__name__)


def channels(settings: Settings) -> int:
    """gRPC connections for upserts: enough for the worker's requests in flight."""
    return max(1, -(-settings.write_concurrency // STREAMS_PER_CHANNEL))


def server_client(settings: Settings) -> Any:
    """A client of the server at ``qdrant_url``: gRPC when its port answers, else REST."""
    from qdrant_client import QdrantClient

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
        return QdrantClient(
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key,
            prefer_grpc=grpc,
            grpc_port=settings.qdrant_grpc_port,
            timeout=60,
            **extra,
        )

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


def prefers_grpc(client: Any) -> bool:
    """True if ``client`` sends points over gRPC (sizes requests)."""
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
        unreachable = (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.UNIMPLEMENTED,
        )
        if code in unreachable:
            return False
        raise
    return True
