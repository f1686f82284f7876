"""The composable index templates the OpenSearch projection installs on first use.

Two templates, both ``PUT _index_template/<name>`` (idempotent: the same body each time):

* ``<prefix>`` for ``<prefix>-*`` (one index per ledger table): ``qldb.*`` ids as ``keyword``,
  ``qldb.txTime`` as ``date`` (``strict_date_optional_time||epoch_millis`` accepts QLDB's ISO
  text with milliseconds and an offset), ``qldb.version``/``qldb.blockSeq`` as ``long``,
  ``qldb.deleted``/``qldb.redacted`` as ``boolean``.

``data`` (the document itself) is mapped by one of four modes, because QLDB documents are
schemaless and OpenSearch fixes a field's type with the first value it sees:

* ``stored`` (default): ``"enabled": false``. Kept verbatim in ``_source``, not indexed, so *any*
  document shape is accepted (mixed-type lists, a field that is a number in one document and a
  struct in another). Filter and aggregate on ``qldb.*`` only.
* ``flat``: ``flat_object`` (OpenSearch 2.7+): leaf values are searchable as strings via
  ``data.<path>``; no numeric ranges.
* ``dynamic``: ordinary dynamic mapping (date detection off, so a date-looking string does not
  fix a field as ``date``). Fully typed, but a later document whose field type conflicts with
  the mapping is rejected (400) and goes to the dead-letter sink.
* ``typed``: ``data`` as in ``stored`` (every shape accepted, exact in ``_source``), plus a
  ``typed`` object of copies for dashboards: each top-level field's value under
  ``typed.<field>.<kind>`` with the kind the Ion type gives (``string`` keyword, ``number``
  double, ``bool`` boolean, ``time`` date in UTC, ``date`` date), mapped by dynamic templates.
  One sub-field per kind, so a field seen with several types never conflicts; a document the
  cluster still refuses for its ``typed`` copies (say the total fields limit) is written
  without them (``projections/opensearch.py``).
* ``<prefix>~checkpoints`` (higher priority, so it alone applies to that index):
  ``exportId`` and ``key`` as ``keyword`` for exact term lookups.

A template only affects indices created after it exists; the projection installs it before its
first write.
"""

from __future__ import annotations

from typing import Any, Literal

from projections.opensearch_names import checkpoint_index

DataMapping = Literal["stored", "flat", "dynamic", "typed"]
"""How ``data`` is mapped; see the module docstring."""

DATA_MAPPINGS: tuple[DataMapping, ...] = ("stored", "flat", "dynamic", "typed")

TEMPLATE_PRIORITY = 100
"""Priority of the table template; the checkpoint template uses one more."""

_KEYWORD = {"type": "keyword"}


def data_mapping(mode: DataMapping) -> dict[str, Any]:
    """The mapping of the ``data`` field for ``mode``."""
    if mode in ("stored", "typed"):
        return {"type": "object", "enabled": False}
    if mode == "flat":
        return {"type": "flat_object"}
    return {"type": "object", "dynamic": True}


TYPED_SUBFIELDS = {
    "string": {"type": "keyword", "ignore_above": 1024},
    "number": {"type": "double"},
    "bool": {"type": "boolean"},
    "time": {"type": "date", "format": "strict_date_optional_time"},
    "date": {"type": "date", "format": "strict_date"},
}
"""``typed.<field>.<kind>`` sub-fields of ``data=typed`` and their mapping (one per kind, so a
field seen with several types never conflicts)."""


def _typed_templates() -> list[dict[str, Any]]:
    return [
        {f"qldb_cdc_typed_{kind}": {"path_match": f"typed.*.{kind}", "mapping": mapping}}
        for kind, mapping in TYPED_SUBFIELDS.items()
    ]


def table_template(prefix: str, mode: DataMapping = "stored") -> dict[str, Any]:
    """Body of ``PUT _index_template/<prefix>`` for the per-table indices."""
    template = _table_template(prefix, mode)
    if mode == "typed":
        mappings = template["template"]["mappings"]
        mappings["dynamic_templates"] = _typed_templates()
        mappings["properties"]["typed"] = {"type": "object", "dynamic": True}
    return template


def _table_template(prefix: str, mode: DataMapping) -> dict[str, Any]:
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
