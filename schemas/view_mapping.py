"""The mapping file of ``qldb-cdc views`` / ``replay --view-mapping``: names and types chosen
by the user for the typed views. Pure: it parses text it is given.

Format (JSON; every key optional)::

    {
      "tables": {
        "Person": {
          "view": "people",                 // name of the current-state view
          "history_view": "people_history", // name of the history view
          "skip": false,                    // true: no views for this ledger table
          "columns": {
            "FirstName": "first_name",                        // a new column name
            "DOB": {"name": "date_of_birth", "type": "date"}, // name and/or type
            "Notes": {"skip": true}                           // leave the field out
          }
        }
      }
    }

Types are the :class:`~core.column_types.ColumnType` values (``text``, ``bigint``,
``numeric``, ``double``, ``boolean``, ``timestamptz``, ``date``, ``bytes``, ``json``). A field
mapped that no document has is still a column (always NULL). Any other key, a wrong type of
value, or a name that is empty is a :class:`~core.errors.ConfigError` naming where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.column_types import ColumnType
from core.errors import ConfigError

MAX_MAPPING_BYTES = 10 * 1024 * 1024
"""A mapping file larger than this is refused (it is read whole)."""
MAX_NAME_CHARS = 1024
"""A mapped view or column name longer than this is refused."""


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """What the user chose for one field: ``name`` and ``type`` (``None``: the default)."""

    name: str | None = None
    type: ColumnType | None = None
    skip: bool = False


@dataclass(frozen=True, slots=True)
class TableMapping:
    """What the user chose for one ledger table."""

    view: str | None = None
    history_view: str | None = None
    skip: bool = False
    columns: Mapping[str, ColumnMapping] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ViewMapping:
    """The whole mapping file; :data:`NO_MAPPING` when there is none."""

    tables: Mapping[str, TableMapping] = field(default_factory=dict)

    def table(self, name: str) -> TableMapping:
        """The mapping of ledger table ``name`` (the default one when it is not mapped)."""
        return self.tables.get(name, _DEFAULT_TABLE)


_DEFAULT_TABLE = TableMapping()
NO_MAPPING = ViewMapping()


def parse_mapping(text: str | bytes, where: str) -> ViewMapping:
    """Parse a mapping file's content; ``where`` names the file in error messages.

    Raises:
        ConfigError: not JSON, too large, too deeply nested, or not of the format above.
    """
    if len(text) > MAX_MAPPING_BYTES:
        msg = f"{where}: mapping file larger than {MAX_MAPPING_BYTES} bytes"
        raise ConfigError(msg)
    try:
        value = json.loads(text)
    except RecursionError:
        msg = f"{where}: mapping file nested too deeply"
        raise ConfigError(msg) from None
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{where}: not a JSON mapping file ({exc})"
        raise ConfigError(msg) from None
    top = _object(value, where, {"tables"})
    tables_value = top.get("tables", {})
    tables = _object(tables_value, f"{where}: tables", None)
    return ViewMapping(
        {name: _table(item, f"{where}: tables.{name!r}") for name, item in tables.items()}
    )


def _table(value: Any, where: str) -> TableMapping:
    item = _object(value, where, {"view", "history_view", "skip", "columns"})
    columns = _object(item.get("columns", {}), f"{where}.columns", None)
    return TableMapping(
        view=_name(item.get("view"), f"{where}.view"),
        history_view=_name(item.get("history_view"), f"{where}.history_view"),
        skip=_flag(item.get("skip", False), f"{where}.skip"),
        columns={
            name: _column(spec, f"{where}.columns.{name!r}") for name, spec in columns.items()
        },
    )


def _column(value: Any, where: str) -> ColumnMapping:
    if isinstance(value, str):
        return ColumnMapping(name=_name(value, where))
    item = _object(value, where, {"name", "type", "skip"})
    type_value = item.get("type")
    column_type = None
    if type_value is not None:
        try:
            column_type = ColumnType(type_value)
        except (ValueError, TypeError):
            allowed = ", ".join(t.value for t in ColumnType)
            msg = f"{where}.type: {type_value!r} is not one of {allowed}"
            raise ConfigError(msg) from None
    return ColumnMapping(
        name=_name(item.get("name"), f"{where}.name"),
        type=column_type,
        skip=_flag(item.get("skip", False), f"{where}.skip"),
    )


def _object(value: Any, where: str, keys: set[str] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = f"{where}: expected a JSON object, found {type(value).__name__}"
        raise ConfigError(msg)
    if keys is not None:
        unknown = sorted(set(value) - keys)
        if unknown:
            msg = f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(keys))})"
            raise ConfigError(msg)
    return value


def _name(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        msg = f"{where}: expected a name of 1 to {MAX_NAME_CHARS} characters, found {value!r}"
        raise ConfigError(msg)
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        msg = f"{where}: expected true or false, found {value!r}"
        raise ConfigError(msg)
    return value
