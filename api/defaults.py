"""Defaults the library, the commands, their help and the docs share: each lives here once.

Imports nothing, so building the command line's parser (``vecq --help``) stays cheap. The
settings' own defaults (``VECQ_*``) are the fields of ``shared/config/settings.py``.
"""

MIB = 1024 * 1024

# Shards of a new index (create_index, attach_index, vecq index create and attach): vecq's
# unit of batching and parallel work, and the collection's shard_number.
SHARDS = 4
# Bytes of vectors per chunk (one upsert call) of vecq ingest: big enough for full batches
# on every shard, small enough that memory stays far below the file size.
CHUNK_BYTES = 16 * MIB
# JSON Lines chunks are smaller: each float is a Python object until validated.
JSONL_CHUNK_ROWS = 4096
# The largest share of the index a mirror pass deletes unless told otherwise.
MAX_DELETE_FRACTION = 0.1
# The largest binary body vecq serve accepts (and the most its arrays may unpack to), in MiB.
MAX_BODY_MB = 256
# The largest JSON body vecq serve accepts, in MiB: about 2,000 768-d vectors; bulk belongs
# in the binary bodies, which skip JSON number parsing.
MAX_JSON_MB = 16
# Requests vecq serve lets wait for their writes at once (?wait=true): each holds a thread
# of the server's pool (40) until its job settles; beyond this they are answered 503.
MAX_WAITING = 16


def chunk_size_text() -> str:
    """How the default chunk size is described in help texts and docs."""
    return f"{CHUNK_BYTES // MIB} MiB of vectors; {JSONL_CHUNK_ROWS:,} lines for JSON Lines"
