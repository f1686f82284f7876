"""Projection URIs -> projection objects (shared by the CLI, the replay job and the Lambda).

| URI | projection |
|---|---|
| ``sqlite:///path/to.db``, ``sqlite:path``, a bare ``*.db`` path | ``projections.sqlite`` |
| ``postgresql://user@host:port/db`` (also ``postgres://``) | ``projections.postgres`` |
| ``dynamodb://Table[?overflow=s3://bucket/prefix&create=true]`` | ``projections.dynamodb`` |
| ``s3://bucket/prefix`` | ``projections.s3`` |
| ``opensearch+https://host[:port]/prefix`` (or ``+http``) | ``projections.opensearch`` |

Modules are imported lazily so a Lambda configured for DynamoDB never imports psycopg.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from core.errors import ConfigError
from projections import sqlite_target
from projections.base import Projection

_SCHEMES: dict[str, str] = {
    "sqlite": "projections.sqlite",
    "postgresql": "projections.postgres",
    "postgres": "projections.postgres",
    "dynamodb": "projections.dynamodb",
    "s3": "projections.s3",
    "opensearch+https": "projections.opensearch",
    "opensearch+http": "projections.opensearch",
}


def normalise_uri(uri: str) -> str:
    """Accept a bare ``*.db``/``*.sqlite`` path as shorthand for ``sqlite:PATH``."""
    if sqlite_target.is_plain_path(uri):
        return sqlite_target.parse(uri).uri
    return uri


def scheme_of(uri: str) -> str:
    """The projection scheme of ``uri``; raise ConfigError for an unknown one."""
    scheme = urlsplit(normalise_uri(uri)).scheme.lower()
    if scheme not in _SCHEMES:
        known = ", ".join(sorted(_SCHEMES))
        msg = f"unknown target {uri!r}: the URI scheme must be one of {known}"
        raise ConfigError(msg)
    return scheme


def open_projection(uri: str) -> Projection:
    """Build the projection for ``uri`` (each module exposes ``from_uri(uri) -> Projection``)."""
    uri = normalise_uri(uri)
    module = importlib.import_module(_SCHEMES[scheme_of(uri)])
    projection: Projection = module.from_uri(uri)
    return projection
