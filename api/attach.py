"""Attaching an index to a collection someone else created (``Client.attach_index``).

vecq reads the collection's vector schema from Qdrant and adds one thing if missing: an
integer payload index on ``_vecq_seq`` (logged at WARNING), which its ordered writes filter
on. It never changes the collection's HNSW, quantization or optimizer settings, except
inside ``bulk()``, which restores them.

Points already in the collection carry no ``_vecq_seq``, and Qdrant's condition
``_vecq_seq < seq`` does not match them: an upsert of such an id would silently change
nothing. So a collection holding any is refused by default (``existing="refuse"``), saying
how many; ``existing="replace"`` records that such points count as older than every vecq
write (the conditions then also match a point without ``_vecq_seq``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vecq.api.index import Index
from vecq.shared import keys
from vecq.shared.engines import Attacher
from vecq.shared.errors import InvalidIndexError, VecqError
from vecq.shared.state import registry

if TYPE_CHECKING:
    from vecq.api.client import Client

log = logging.getLogger(__name__)

# Embedded indexes are Edge shards vecq creates; an existing collection lives on a server.
NO_ATTACH = (
    "attach_index writes into an existing collection of a Qdrant server (VECQ_QDRANT_URL) or "
    "local mode (VECQ_QDRANT_PATH); an embedded index is created by vecq: create_index"
)


def attach(
    client: Client, index_name: str, key: bytes, collection: str, shards: int, existing: str
) -> Index:
    """Register ``index_name`` as writing into ``collection`` and return it (see above)."""
    if existing not in ("refuse", "replace"):
        raise ValueError(f'existing must be "refuse" or "replace", not {existing!r}')
    target = collection
    registry.check_name(index_name)
    engine = client.engine
    if not isinstance(engine, Attacher):
        raise VecqError(NO_ATTACH)
    shape = engine.describe_collection(target)
    if shape.foreign_points and existing == "refuse":
        raise InvalidIndexError(
            f"collection {target!r} holds {shape.foreign_points:,} points written without "
            "vecq (no _vecq_seq): vecq's ordered writes would silently skip those ids. "
            'Pass existing="replace" to let vecq replace and delete them as older than any '
            "vecq write, or attach to an empty collection"
        )
    info = registry.create(
        client.redis,
        index_name,
        dimension=shape.dimension,
        shards=shards,
        metric=shape.metric,
        key=key,
        schema=shape.schema,
        attached_to=target,
        replace_foreign=existing == "replace",
    )
    if not shape.has_seq_index and engine.kind == "server":
        try:
            engine.prepare_attached(info)
        except BaseException:
            registry.delete(client.redis, index_name)
            raise
        log.warning(
            "attach_index: added an integer payload index on %s to collection %r "
            "(vecq's ordered writes filter on it)",
            keys.PAYLOAD_SEQ,
            target,
        )
    return Index(client.session, info, key)
