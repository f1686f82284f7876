"""Pure, dependency-free verification of QLDB journal hashes.

``ionhash`` implements Amazon Ion Hash (SHA-256), ``qldb_hashes`` the QLDB ``dot``
operator, Merkle roots and revision/block hashes, and ``verifier`` checks blocks,
revisions and hash chains. Nothing in this package performs I/O, reads the
environment or imports AWS SDKs; every function is deterministic in its arguments.
"""
