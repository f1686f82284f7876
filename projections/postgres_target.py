"""Where a PostgreSQL target lives: ``postgresql://`` / ``postgres://`` URIs parsed, no I/O.

``postgresql://user@host:5432/db?schema=ledger``: ``schema`` selects the schema of the tables
(created if missing); every other parameter is passed to libpq as given. Parsing imports no
psycopg and opens nothing; libpq itself checks its parameters when :meth:`PostgresTarget.open`
builds the projection (psycopg is needed for that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.errors import ConfigError

if TYPE_CHECKING:
    from projections.postgres import PostgresProjection


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """A parsed PostgreSQL target (frozen, picklable; ``conninfo`` may hold a password, so it
    is left out of ``repr``).

    Attributes:
        conninfo: the libpq URI without the ``schema`` parameter.
        schema: the schema of the tables, ``None`` for the server's search path.
    """

    conninfo: str = field(repr=False)
    schema: str | None

    def open(self) -> PostgresProjection:
        """The projection (the connection is opened lazily by its first call).

        Raises:
            ConfigError: libpq does not accept ``conninfo``.
        """
        from projections.postgres import PostgresProjection

        return PostgresProjection(self.conninfo, schema=self.schema)


def parse(uri: str) -> PostgresTarget:
    """Parse a libpq URI; ``?schema=name`` selects the schema.

    Raises:
        ConfigError: the URI is not ``postgresql://`` / ``postgres://`` or the schema is empty
            or given twice.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        msg = f"not a PostgreSQL URI: {uri!r} (expected postgresql://user@host:port/database)"
        raise ConfigError(msg)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    if any(not s for s in schemas) or len(schemas) > 1:
        msg = f"PostgreSQL URI {uri!r}: give ?schema=name at most once, non-empty"
        raise ConfigError(msg)
    rest = urlencode([(name, value) for name, value in query if name != "schema"])
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
    return PostgresTarget(conninfo, schemas[0] if schemas else None)
