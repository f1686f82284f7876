"""Wire formats of QLDB journal data turned into typed, immutable Python values.

Everything in this package is pure: bytes or already-open file objects in, frozen dataclasses
out. Nothing here touches the network, the file system by path, the environment or a clock.
"""
