"""Every name that crosses a process boundary: Redis keys, task and queue names, versions.

Producer and workers must agree on these byte for byte, so they live here and nowhere else.
"""

from __future__ import annotations

PREFIX = "vecq"

# Celery task and queue names. The producer sends by name and never imports workers.
TASK_UPSERT_BATCH = "vecq.upsert_batch"
QUEUE_BULK = "vecq.bulk"
# Small upserts (Settings.live_max_vectors): served by every worker's live lane, ahead of bulk.
QUEUE_LIVE = "vecq.live"

# Scheduled ETL (`vecq schedule`): beat publishes a run of a source to this queue.
TASK_ETL_RUN = "vecq.etl.run"
QUEUE_ETL = "vecq.etl"

# Version of the JSON message a task carries; bumped on any incompatible change.
MESSAGE_VERSION = 1

# Version of the binary batch blob (see shared/wire/codec.py).
BLOB_VERSION = 4

# Name of the sharding function recorded in every registry entry (see shared/points/sharding.py).
SHARD_FUNCTION = "jump-splitmix64-v1"

# How an index sits in Qdrant, recorded in every registry entry: one collection named after
# the index, sharded by Qdrant itself (vecq's shards are its unit of batching and work).
INDEX_LAYOUT = "one-collection-v1"

# Payload fields vecq reserves inside every Qdrant point; user metadata may not use the prefix.
RESERVED_PREFIX = "_vecq"
PAYLOAD_SEQ = "_vecq_seq"
PAYLOAD_ITEM = "_vecq_item"
# The caller's string id of a point stored under its UUID (shared/points/ids.py).
PAYLOAD_ID = "_vecq_id"

# How long a finished job's ledger stays readable.
JOB_TTL_SECONDS = 7 * 24 * 3600
# A blob is stored with this expiry, removed by the ledger write right behind it: if the
# producer dies between the two, nothing refers to the blob and it must not stay forever.
ORPHAN_BLOB_TTL_SECONDS = 24 * 3600


def bulk(index: str) -> str:
    """Hash of an index in bulk mode: its collection's indexing threshold to restore."""
    return f"{PREFIX}:bulk:{index}"


def ingest(index: str, fingerprint: str) -> str:
    """Hash of one file's committed ingest chunks: chunk number -> job id."""
    return f"{PREFIX}:ingest:{index}:{fingerprint}"


def ingest_lease(index: str, file_key: str) -> str:
    """The lease of the one ``vecq ingest`` reading a source into an index at a time."""
    return f"{PREFIX}:ingest-lease:{index}:{file_key}"


def ingest_chunking(index: str, file_key: str) -> str:
    """The chunk size a file's ingest runs read it in (its resume state is per size)."""
    return f"{PREFIX}:ingest-rows:{index}:{file_key}"


def etl_lock(source: str) -> str:
    """Held while a scheduled source is being ingested, so two runs never overlap."""
    return f"{PREFIX}:etl:lock:{source}"


def etl_run(source: str) -> str:
    """JSON record of the latest run of a scheduled source."""
    return f"{PREFIX}:etl:run:{source}"


def index_set() -> str:
    """Set of all index names."""
    return f"{PREFIX}:indexes"


def index(name: str) -> str:
    """Hash holding one index's registry entry."""
    return f"{PREFIX}:index:{name}"


def sequence(name: str) -> str:
    """Per-index counter handing out batch sequence numbers."""
    return f"{PREFIX}:seq:{name}"


def blob(name: str, seq: int) -> str:
    """One shard batch, encoded by shared/wire/codec.py; sequence numbers are unique per index."""
    return f"{PREFIX}:blob:{name}:{seq}"


def inflight(name: str) -> str:
    """Bytes of an index's blobs enqueued and not yet settled."""
    return f"{PREFIX}:inflight:{name}"


def job(job_id: str) -> str:
    """Hash with a job's totals: total, batches, written, failed, settled, timestamps."""
    return f"{PREFIX}:job:{job_id}"


def jobs() -> str:
    """Sorted set of recent job ids by creation time (trimmed; for ``vecq status``)."""
    return f"{PREFIX}:jobs"


def job_batches(job_id: str) -> str:
    """Hash mapping a job's batch sequence numbers to their state."""
    return f"{PREFIX}:job:{job_id}:batches"


def job_failures(job_id: str) -> str:
    """List of JSON failure records of a job."""
    return f"{PREFIX}:job:{job_id}:failures"


def job_done(job_id: str) -> str:
    """List pushed once when a job's last batch settles, so waiters can block on it."""
    return f"{PREFIX}:job:{job_id}:done"


def job_attempts(job_id: str) -> str:
    """Hash of delivery counts per batch (``seq``) and first-delivery times (``seq:first``)."""
    return f"{PREFIX}:job:{job_id}:attempts"


def job_refs(job_id: str) -> str:
    """Hash mapping a job's batch sequence numbers to their batch references (for republishing)."""
    return f"{PREFIX}:job:{job_id}:refs"


def job_lease(job_id: str) -> str:
    """Held (with an expiry) by the producer while it enqueues the job; gone: it stopped."""
    return f"{PREFIX}:job:{job_id}:producer"


def enqueuing() -> str:
    """Sorted set of jobs whose producer has not finished enqueuing them, by creation time."""
    return f"{PREFIX}:jobs:enqueuing"


def holders() -> str:
    """Hash of pending batches being processed (their member) -> the worker holding each."""
    return f"{PREFIX}:holders"


def worker(worker_id: str) -> str:
    """A worker's heartbeat: present (with a short expiry) while the worker lives."""
    return f"{PREFIX}:worker:{worker_id}"


def workers_prefix() -> str:
    """What every heartbeat key starts with (to list the live workers)."""
    return f"{PREFIX}:worker:"


def pending() -> str:
    """Sorted set of every enqueued, unsettled batch (its message), scored by last activity.

    The ledger's own record of work in flight: a batch whose broker message was lost (a
    worker killed between taking it and recording it as unacknowledged, a broker that lost
    its last writes) is still here, and a worker's reaper publishes it again.
    """
    return f"{PREFIX}:pending"


def settled() -> str:
    """Counter of the batches settled by every worker, of every job: the fleet's progress
    (a waiter whose own job waits behind others' batches sees the fleet at work)."""
    return f"{PREFIX}:settled"


def reaper_lock() -> str:
    """Held by the one worker sweeping ``pending`` at a time."""
    return f"{PREFIX}:reaper"


def dlq() -> str:
    """The dead-letter stream: one entry per batch (or message) that could not be written."""
    return f"{PREFIX}:dlq"


def dlq_blob(name: str, seq: int) -> str:
    """A dead-lettered batch's blob (all its points, or only the ones Qdrant rejected)."""
    return f"{PREFIX}:dlq:blob:{name}:{seq}"


def open_seqs(name: str) -> str:
    """Sorted set of an index's writes that may still arrive, scored by sequence number.

    ``b:{seq}`` for each batch stored and not yet settled, ``j:{job}`` (scored by its first
    sequence number) for each job whose producer is still enqueuing: its reserved numbers
    may still become batches. The lowest score is the oldest write still in flight.
    """
    return f"{PREFIX}:open:{name}"


def held_seqs(name: str) -> str:
    """Sorted set of an index's dead-lettered batches (``b:{seq}``): a replay may write them."""
    return f"{PREFIX}:held:{name}"


def tombstones(name: str) -> str:
    """Hash: point id -> the sequence numbers of its deletes (comma-separated) still kept."""
    return f"{PREFIX}:tombs:{name}"


def patches(name: str) -> str:
    """Hash: point id -> its metadata updates still kept, one ``seq<TAB>json`` a line."""
    return f"{PREFIX}:patches:{name}"


def marks(name: str) -> str:
    """Sorted set of an index's delete and update batches whose marks are kept, by seq."""
    return f"{PREFIX}:marks:{name}"


def marked(name: str, seq: int) -> str:
    """The point ids (one a line) a delete or update batch left marks for."""
    return f"{PREFIX}:marked:{name}:{seq}"


def marks_version(name: str) -> str:
    """Counter bumped whenever marks are added: a writer compares it before and after."""
    return f"{PREFIX}:marks:version:{name}"


def reclaim(name: str) -> str:
    """Hash: the oldest write in flight (``watermark``) and when it was seen (``at``)."""
    return f"{PREFIX}:reclaim:{name}"


def pace(name: str) -> str:
    """Hash of the fleet-wide pace of writes into an index's collection (shared/state/pace.py)."""
    return f"{PREFIX}:pace:{name}"


def pace_slots(name: str) -> str:
    """Sorted set of the index's requests in flight, fleet-wide: slot token -> lease expiry."""
    return f"{PREFIX}:pace:slots:{name}"


def pace_probe(name: str) -> str:
    """Held briefly by the one worker looking at the collection's optimizers for the fleet."""
    return f"{PREFIX}:pace:probe:{name}"


def index_keys(name: str) -> list[str]:
    """Every per-index key that outlives no index: deleted with it."""
    return [
        sequence(name),
        inflight(name),
        open_seqs(name),
        held_seqs(name),
        tombstones(name),
        patches(name),
        marks(name),
        marks_version(name),
        reclaim(name),
        bulk(name),
        pace(name),
        pace_slots(name),
        pace_probe(name),
    ]


# The embedded service (shared/wire/service_protocol.py): engine calls from attached processes.
SERVICE_REQUESTS = f"{PREFIX}:service:requests"


def service_reply(call_id: str) -> str:
    """List the service pushes one engine call's reply to (expires if nobody takes it)."""
    return f"{PREFIX}:service:reply:{call_id}"
