"""The producer library (``Client``, ``Index``, ``UpsertJob``), the HTTP service (``http/``),
file and table ingestion (``ingest/``) and the ``vecq`` command (``cli/``).

Users import the public names from the package's top: ``from vecq import Client``.
"""
