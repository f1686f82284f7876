"""Where a PostgreSQL target lives: ``postgresql://`` / ``postgres://`` URIs parsed, no I/O.

``postgresql://user@host:5432/db?schema=ledger``: ``schema`` selects the schema of the tables
(created if missing), ``view_schema`` the schema of the typed views (both at most 63 bytes);
every other parameter is passed to libpq as given. Parsing imports no
psycopg and opens nothing; libpq itself checks its parameters when :meth:`PostgresTarget.open`
builds the projection (psycopg is needed for that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.errors import ConfigError

MAX_SCHEMA_BYTES = 63
"""PostgreSQL cuts longer identifiers: a longer schema name would silently be another."""

if TYPE_CHECKING:
    from projections.postgres import PostgresProjection


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """A parsed PostgreSQL target (frozen, picklable; ``conninfo`` may hold a password, so it
    is left out of ``repr``).

    Attributes:
        conninfo: the libpq URI without the ``schema`` parameter.
        schema: the schema of the tables, ``None`` for the server's search path.
        view_schema: the schema of the typed views, ``None`` for the default (``ledger``, or
            ``ledger_views`` when ``schema`` is ``ledger``).
    """

    conninfo: str = field(repr=False)
    schema: str | None
    view_schema: str | None = None

    def open(self) -> PostgresProjection:
        """The projection (the connection is opened lazily by its first call).

        Raises:
            ConfigError: libpq does not accept ``conninfo``.
        """
        from projections.postgres import PostgresProjection

        return PostgresProjection(self.conninfo, schema=self.schema, view_schema=self.view_schema)


def parse(uri: str) -> PostgresTarget:
    """Parse a libpq URI; ``?schema=name`` selects the schema, ``?view_schema=name`` the views'.

    Raises:
        ConfigError: the URI is not ``postgresql://`` / ``postgres://`` or a schema is empty,
            given twice or too long.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        msg = f"not a PostgreSQL URI: {uri!r} (expected postgresql://user@host:port/database)"
        raise ConfigError(msg)
    query = parse_qsl(parts.query, keep_blank_values=True)
    chosen: dict[str, str | None] = {}
    for parameter in ("schema", "view_schema"):
        values = [value for name, value in query if name == parameter]
        if any(not v or "\x00" in v for v in values) or len(values) > 1:
            msg = f"PostgreSQL URI {uri!r}: give ?{parameter}=name at most once, non-empty"
            raise ConfigError(msg)
        if values and len(values[0].encode("utf-8", "surrogatepass")) > MAX_SCHEMA_BYTES:
            msg = f"PostgreSQL URI {uri!r}: {parameter} is longer than {MAX_SCHEMA_BYTES} bytes"
            raise ConfigError(msg)
        chosen[parameter] = values[0] if values else None
    rest = urlencode([(n, v) for n, v in query if n not in ("schema", "view_schema")])
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
    return PostgresTarget(conninfo, chosen["schema"], chosen["view_schema"])
