"""Bounds on untrusted input, in one place so every reader enforces the same ones.

* :data:`MAX_INT64`: QLDB document versions and block sequence numbers are 64-bit signed
  integers; a larger value in an export or a stream record breaks the format (poison), and no
  projection could store it (SQLite ``INTEGER``, PostgreSQL ``bigint``).
* :data:`MAX_NESTING`: containers (structs, lists, s-expressions) nested more deeply than this in a
  document are poison. QLDB documents are at most 128 KB of Ion binary and real ones nest a few
  levels; the bound keeps every recursive walk (conversion, JSON, hashing, the targets' encoders)
  far from Python's recursion limit. The document struct itself is level 1.
* :data:`MAX_READ_NESTING`: containers nested more deeply than this anywhere in an Ion binary
  stream make it unreadable (the same bound amazon-ion's C reader has); the structural check
  (``schemas.ion_binary_check``) refuses them before decoding.
"""

from __future__ import annotations

MAX_INT64 = 2**63 - 1
MAX_NESTING = 100
MAX_READ_NESTING = 1000
