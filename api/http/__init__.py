"""The HTTP API (``vecq serve``): indexes, upserts as JSON or binary, jobs, health, metrics.

``app`` builds the application, ``routes`` holds the routes (thin: authorise, parse, call
the library, map errors), ``models`` the bodies, ``deps`` what routes receive, ``errors``
the error shape, ``auth`` the tokens, ``bodies`` the binary upsert formats and
``request_metrics`` the Prometheus side. Needs the ``server`` extra (FastAPI, uvicorn).
"""

from vecq.api.http.app import create_app

__all__ = ["create_app"]
