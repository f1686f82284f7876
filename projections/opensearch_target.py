"""Where an OpenSearch target lives: ``opensearch+https://`` / ``opensearch+http://`` URIs
parsed, no I/O and no opensearch-py or boto3 import.

The URI syntax and options are described in :mod:`projections.opensearch`; every mistake in
them is found here. :meth:`OpenSearchTarget.open` builds the client (and, for ``auth=sigv4``,
resolves the AWS credentials).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from core.errors import ConfigError
from projections.opensearch_bulk import DEFAULT_MAX_BULK_BYTES
from projections.opensearch_names import invalid_prefix_reason
from projections.opensearch_template import DATA_MAPPINGS, DataMapping

if TYPE_CHECKING:
    from projections.opensearch import OpenSearchProjection


@dataclass(frozen=True, slots=True)
class OpenSearchTarget:
    """A parsed ``opensearch+http(s)://`` URI (frozen, picklable; the password is left out of
    ``repr``). ``scheme`` is ``http`` or ``https``."""

    scheme: str
    host: str
    port: int
    prefix: str
    username: str | None
    password: str | None = field(repr=False)
    sigv4: bool
    region: str | None
    service: str
    bulk_bytes: int
    timeout: float
    install_templates: bool
    verify_certs: bool
    data_mapping: DataMapping

    def open(self) -> OpenSearchProjection:
        """The projection with its client (see :func:`projections.opensearch.open_target`).

        Raises:
            ConfigError: SigV4 requested but no AWS credentials or region are available, or
                botocore rejects the AWS configuration.
        """
        from projections.opensearch import open_target

        return open_target(self)


_OPTIONS = frozenset(
    {"auth", "region", "service", "bulk_bytes", "timeout", "templates", "verify", "data"}
)
_FALSE = ("false", "0", "no", "off")


def parse_uri(uri: str) -> OpenSearchTarget:
    """Parse an ``opensearch+https://`` or ``opensearch+http://`` target URI.

    Raises:
        ConfigError: unknown scheme or option, missing host or prefix, bad values.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in ("opensearch+https", "opensearch+http"):
        msg = f"not an OpenSearch target: {uri!r} (use opensearch+https://host/prefix)"
        raise ConfigError(msg)
    http_scheme = scheme.removeprefix("opensearch+")
    if not parts.hostname:
        msg = f"OpenSearch target {uri!r} has no host"
        raise ConfigError(msg)
    try:
        port = parts.port or (443 if http_scheme == "https" else 9200)
    except ValueError as exc:
        msg = f"OpenSearch target {uri!r} has an invalid port"
        raise ConfigError(msg) from exc
    prefix = parts.path.strip("/")
    if "/" in prefix:
        msg = f"OpenSearch target {uri!r}: the path must be a single index prefix"
        raise ConfigError(msg)
    reason = invalid_prefix_reason(prefix)
    if reason is not None:
        msg = f"OpenSearch target {uri!r}: {reason}"
        raise ConfigError(msg)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - _OPTIONS)
    if unknown:
        msg = f"OpenSearch target {uri!r}: unknown option(s) {', '.join(unknown)}"
        raise ConfigError(msg)
    auth = query.get("auth", "").lower()
    if auth not in ("", "sigv4", "basic"):
        msg = f"OpenSearch target {uri!r}: auth must be sigv4 or basic"
        raise ConfigError(msg)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if auth == "sigv4" and username:
        msg = f"OpenSearch target {uri!r}: use either auth=sigv4 or user:password@, not both"
        raise ConfigError(msg)
    default_service = "aoss" if parts.hostname.endswith(".aoss.amazonaws.com") else "es"
    service = query.get("service", default_service)
    if service not in ("es", "aoss"):
        msg = f"OpenSearch target {uri!r}: service must be es or aoss"
        raise ConfigError(msg)
    data = query.get("data", "stored")
    modes = {mode: mode for mode in DATA_MAPPINGS}
    if data not in modes:
        msg = f"OpenSearch target {uri!r}: data must be one of {', '.join(DATA_MAPPINGS)}"
        raise ConfigError(msg)
    return OpenSearchTarget(
        scheme=http_scheme,
        host=parts.hostname,
        port=port,
        prefix=prefix,
        username=username,
        password=password,
        sigv4=auth == "sigv4",
        region=query.get("region") or None,
        service=service,
        bulk_bytes=_positive(uri, query, "bulk_bytes", DEFAULT_MAX_BULK_BYTES),
        timeout=float(_positive(uri, query, "timeout", 30)),
        install_templates=query.get("templates", "true").lower() not in _FALSE,
        verify_certs=query.get("verify", "true").lower() not in _FALSE,
        data_mapping=modes[data],
    )


def _positive(uri: str, query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) <= 0:
        msg = f"OpenSearch target {uri!r}: {name} must be a positive integer, got {text!r}"
        raise ConfigError(msg)
    return int(text)
