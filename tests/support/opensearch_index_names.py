"""The index names a real OpenSearch cluster accepts (pure: the fake server and unit tests)."""

from __future__ import annotations

_FORBIDDEN_INDEX_CHARS = '\\/*?"<>| ,'
"""OpenSearch's ``Strings.INVALID_FILENAME_CHARS``: never allowed in an index name."""


def invalid_index_name(name: str) -> str | None:
    """Why a real cluster refuses index ``name`` (``MetadataCreateIndexService``), or ``None``.

    The rules: not empty, lowercase, none of ``\\ / * ? " < > | , #``, ``:`` or space, not
    starting with ``_``, ``-`` or ``+``, not ``.`` or ``..``, at most 255 UTF-8 bytes.
    """
    if not name:
        return "must not be empty"
    bad = sorted(set(name) & set(_FORBIDDEN_INDEX_CHARS))
    if bad:
        return f"must not contain the following characters {bad}"
    if "#" in name:
        return "must not contain '#'"
    if ":" in name:
        return "must not contain ':'"
    if name.startswith(("_", "-", "+")):
        return "must not start with '_', '-', or '+'"
    if name != name.lower():
        return "must be lowercase"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > 255:
        return f"index name is too long, ({size} > 255)"
    return None
