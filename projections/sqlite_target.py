"""Where a SQLite target lives: parse what the user typed, and check it can be written.

Accepted spellings (``PATH`` as typed; relative paths are relative to the working directory):

| typed | database file |
|---|---|
| ``out/x.db``, ``/abs/x.db`` (ends in ``.db``, ``.sqlite``, ``.sqlite3``) | that path |
| ``sqlite:PATH`` (``sqlite:x.db``, ``sqlite:/abs/x.db``) | ``PATH`` |
| ``sqlite:///PATH`` | ``PATH`` relative (``sqlite:///demo.db`` is ``demo.db``) |
| ``sqlite:////abs/PATH`` | ``/abs/PATH`` |
| ``sqlite:///:memory:`` | an in-memory database (tests) |

``sqlite://x.db`` (two slashes) is refused: it reads as a host name, and the message says which
spelling to use. Paths are shown as typed, so messages never print ``//abs``.

:func:`parse` does no I/O; :meth:`SqliteTarget.open` checks the folder and file
(:func:`check_writable`) and then opens the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from core.errors import ConfigError

if TYPE_CHECKING:
    from projections.sqlite import SQLiteProjection

MEMORY = ":memory:"
SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass(frozen=True, slots=True)
class SqliteTarget:
    """A parsed SQLite target (frozen, picklable): ``typed`` as the user gave it, ``path`` the
    database file (or ``:memory:``)."""

    typed: str
    path: str

    @property
    def uri(self) -> str:
        """The canonical ``sqlite:///PATH`` form, which :func:`parse` reads back as ``path``."""
        return f"sqlite:///{self.path}"

    def open(self) -> SQLiteProjection:
        """Check the database can be written (:func:`check_writable`), then open it.

        Raises:
            ConfigError: the folder or file cannot be written.
        """
        from projections.sqlite import SQLiteProjection

        check_writable(self)
        return SQLiteProjection(self.path)


def is_plain_path(text: str) -> bool:
    """True for a bare database path such as ``out/x.db`` (no URI scheme)."""
    return "://" not in text and not text.startswith("sqlite:") and text.endswith(SUFFIXES)


def parse(text: str) -> SqliteTarget:
    """Parse a SQLite target (see the module docstring).

    Raises:
        ConfigError: not a SQLite target, no path, or the ambiguous ``sqlite://PATH``.
    """
    if is_plain_path(text):
        return SqliteTarget(text, text)
    if not text.lower().startswith("sqlite:"):
        msg = f"not a SQLite target: {text!r}"
        raise ConfigError(msg)
    rest = unquote(text[len("sqlite:") :])
    if rest.startswith("///"):
        path = rest[3:]  # sqlite:///rel, sqlite:////abs
    elif rest.startswith("//"):
        name = rest[2:]
        msg = (
            f"SQLite target {text!r}: write sqlite:///{name} for the relative path {name}, "
            f"sqlite:////{name.lstrip('/')} for an absolute one, or just the path"
        )
        raise ConfigError(msg)
    else:
        path = rest  # sqlite:rel, sqlite:/abs
    if not path:
        msg = f"SQLite target {text!r} needs a file path, e.g. sqlite:///replay.db"
        raise ConfigError(msg)
    return SqliteTarget(text, path)


def check_writable(target: SqliteTarget) -> None:
    """Refuse, with one line saying what to change, a database that cannot be written.

    SQLite in WAL mode writes ``-wal`` and ``-shm`` files beside the database, so the folder must
    be writable even when the file exists.

    Raises:
        ConfigError: the folder is missing, not a folder or not writable; the path is a folder;
            the file exists but is not writable.
    """
    if target.path == MEMORY:
        return
    path = Path(target.path)
    folder = path.parent
    shown = str(folder) if str(folder) != "." else "the current folder"
    where = f"SQLite database {target.path}"
    if not folder.exists():
        msg = f"{where}: folder {shown} does not exist (create it first)"
        raise ConfigError(msg)
    if not folder.is_dir():
        msg = f"{where}: {shown} is not a folder"
        raise ConfigError(msg)
    if path.is_dir():
        msg = f"{where}: {target.path} is a folder; give a file name such as {path / 'cdc.db'}"
        raise ConfigError(msg)
    if not os.access(folder, os.W_OK | os.X_OK):
        msg = f"{where}: folder {shown} is not writable (SQLite writes its journal beside the file)"
        raise ConfigError(msg)
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        msg = f"{where}: the file is not writable"
        raise ConfigError(msg)
