"""Projection URIs -> target specs -> projections (shared by the CLI, the replay job, the Lambdas
and the KCL processor).

| URI | spec (``projections.X``) | projection module |
|---|---|---|
| ``sqlite:///path/to.db``, ``sqlite:path``, a bare ``*.db`` path | ``sqlite_target`` | ``sqlite`` |
| ``postgresql://user@host:port/db`` (also ``postgres://``) | ``postgres_target`` | ``postgres`` |
| ``dynamodb://Table[?overflow=s3://b/p&create=true]`` | ``dynamodb_target`` | ``dynamodb`` |
| ``s3://bucket/prefix`` | ``s3_target`` | ``s3`` |
| ``opensearch+https://host[:port]/prefix`` (``+http``) | ``opensearch_target`` | ``opensearch`` |

Guarantees:

* :func:`parse_target` does no I/O, builds no client and imports no driver (boto3, psycopg,
  opensearch-py): every mistake in a URI is a :class:`~core.errors.ConfigError` here, before
  any work. Specs are frozen and picklable, so they can be handed to worker processes.
* ``spec.open()`` imports the target's module (lazily, so a Lambda configured for DynamoDB
  never imports psycopg), builds its clients and creates tables only when the spec says so.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from core.errors import ConfigError
from projections import (
    dynamodb_target,
    opensearch_target,
    postgres_target,
    s3_target,
    sqlite_target,
)
from projections.base import Projection
from projections.dynamodb_target import DynamoDbTarget
from projections.opensearch_target import OpenSearchTarget
from projections.postgres_target import PostgresTarget
from projections.s3_target import S3Target
from projections.sqlite_target import SqliteTarget

TargetSpec = SqliteTarget | PostgresTarget | DynamoDbTarget | S3Target | OpenSearchTarget
"""A parsed target: frozen, picklable; ``open()`` builds its projection."""

_PARSERS: dict[str, Callable[[str], TargetSpec]] = {
    "sqlite": sqlite_target.parse,
    "postgresql": postgres_target.parse,
    "postgres": postgres_target.parse,
    "dynamodb": dynamodb_target.parse,
    "s3": s3_target.parse,
    "opensearch+https": opensearch_target.parse_uri,
    "opensearch+http": opensearch_target.parse_uri,
}


def normalise_uri(uri: str) -> str:
    """Accept a bare ``*.db``/``*.sqlite`` path as shorthand for ``sqlite:PATH``."""
    if sqlite_target.is_plain_path(uri):
        return sqlite_target.parse(uri).uri
    return uri


def scheme_of(uri: str) -> str:
    """The projection scheme of ``uri``; raise ConfigError for an unknown one."""
    scheme = urlsplit(normalise_uri(uri)).scheme.lower()
    if scheme not in _PARSERS:
        known = ", ".join(sorted(_PARSERS))
        msg = f"unknown target {uri!r}: the URI scheme must be one of {known}"
        raise ConfigError(msg)
    return scheme


def parse_target(uri: str) -> TargetSpec:
    """The spec of ``uri`` (no I/O; see the module docstring).

    Raises:
        ConfigError: an unknown scheme, or a URI its target refuses.
    """
    uri = normalise_uri(uri)
    return _PARSERS[scheme_of(uri)](uri)


def open_projection(uri: str) -> Projection:
    """Parse ``uri`` and open it: ``parse_target(uri).open()``."""
    return parse_target(uri).open()


__all__ = [
    "DynamoDbTarget",
    "OpenSearchTarget",
    "PostgresTarget",
    "S3Target",
    "SqliteTarget",
    "TargetSpec",
    "normalise_uri",
    "open_projection",
    "parse_target",
    "scheme_of",
]
