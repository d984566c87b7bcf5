"""File ingestion: backfills (``vecq ingest``) and scheduled ETL (``vecq schedule``).

``files`` finds the files, ``npy``, ``arrow`` and ``jsonl`` read each format in chunks
(``chunks``), ``backfill`` enqueues them resumably, ``etl`` runs that on a schedule.
"""
