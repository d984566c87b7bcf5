"""The contract the producer and the workers share, one room per concept.

    points/   a call's data: ids, vectors, metadata, validation, columns, sharding
    wire/     what crosses between processes: blobs, task messages, the service's calls
    state/    what lives in Redis: registry, ledgers, marks, dead letters, pace (and lua/)
    config/   settings, Redis connections, the Celery configuration
    engines/  the Qdrant engines behind one seam: a server, Qdrant Edge

At the top: the error tree (``errors``), every cross-process name (``keys``), logs, item
encryption (``crypto``), redaction of secrets and the version.
"""
