"""The composable index templates the OpenSearch projection installs on first use.

Two templates, both ``PUT _index_template/<name>`` (idempotent: the same body each time):

* ``<prefix>`` for ``<prefix>-*`` (one index per ledger table): ``qldb.*`` ids as ``keyword``,
  ``qldb.txTime`` as ``date`` (``strict_date_optional_time||epoch_millis`` accepts QLDB's ISO
  text with milliseconds and an offset), ``qldb.version``/``qldb.blockSeq`` as ``long``,
  ``qldb.deleted``/``qldb.redacted`` as ``boolean``.

``data`` (the document itself) is mapped by one of three modes, because QLDB documents are
schemaless and OpenSearch fixes a field's type with the first value it sees:

* ``stored`` (default): ``"enabled": false``. Kept verbatim in ``_source``, not indexed, so *any*
  document shape is accepted (mixed-type lists, a field that is a number in one document and a
  struct in another). Filter and aggregate on ``qldb.*`` only.
* ``flat``: ``flat_object`` (OpenSearch 2.7+): leaf values are searchable as strings via
  ``data.<path>``; no numeric ranges.
* ``dynamic``: ordinary dynamic mapping (date detection off, so a date-looking string does not
  fix a field as ``date``). Fully typed, but a later document whose field type conflicts with
  the mapping is rejected (400) and goes to the dead-letter sink.
* ``<prefix>~checkpoints`` (higher priority, so it alone applies to that index):
  ``exportId`` and ``key`` as ``keyword`` for exact term lookups.

A template only affects indices created after it exists; the projection installs it before its
first write.
"""

from __future__ import annotations

from typing import Any, Literal

from projections.opensearch_names import checkpoint_index

DataMapping = Literal["stored", "flat", "dynamic"]
"""How ``data`` is mapped; see the module docstring."""

DATA_MAPPINGS: tuple[DataMapping, ...] = ("stored", "flat", "dynamic")

TEMPLATE_PRIORITY = 100
"""Priority of the table template; the checkpoint template uses one more."""

_KEYWORD = {"type": "keyword"}


def data_mapping(mode: DataMapping) -> dict[str, Any]:
    """The mapping of the ``data`` field for ``mode``."""
    if mode == "stored":
        return {"type": "object", "enabled": False}
    if mode == "flat":
        return {"type": "flat_object"}
    return {"type": "object", "dynamic": True}


def table_template(prefix: str, mode: DataMapping = "stored") -> dict[str, Any]:
    """Body of ``PUT _index_template/<prefix>`` for the per-table indices."""
    return {
        "index_patterns": [f"{prefix}-*"],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "mappings": {
                "date_detection": False,
                "properties": {
                    "data": data_mapping(mode),
                    "qldb": {
                        "properties": {
                            "version": {"type": "long"},
                            "deleted": {"type": "boolean"},
                            "redacted": {"type": "boolean"},
                            "txId": _KEYWORD,
                            "txTime": {
                                "type": "date",
                                "format": "strict_date_optional_time||epoch_millis",
                            },
                            "revisionHash": _KEYWORD,
                            "dataHash": _KEYWORD,
                            "ledgerTable": _KEYWORD,
                            "documentId": _KEYWORD,
                            "blockStrand": _KEYWORD,
                            "blockSeq": {"type": "long"},
                        }
                    },
                },
            }
        },
        "_meta": {"managed_by": "qldb-cdc"},
    }


def checkpoint_template(prefix: str) -> dict[str, Any]:
    """Body of ``PUT _index_template/<prefix>~checkpoints``."""
    return {
        "index_patterns": [checkpoint_index(prefix)],
        "priority": TEMPLATE_PRIORITY + 1,
        "template": {
            "mappings": {
                "dynamic": "strict",
                "properties": {"exportId": _KEYWORD, "key": _KEYWORD},
            }
        },
        "_meta": {"managed_by": "qldb-cdc"},
    }


def templates(prefix: str, mode: DataMapping = "stored") -> dict[str, dict[str, Any]]:
    """Every template to install for ``prefix``: name -> body."""
    return {
        prefix: table_template(prefix, mode),
        checkpoint_index(prefix): checkpoint_template(prefix),
    }
