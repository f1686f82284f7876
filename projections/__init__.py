"""Projections: read-side copies of QLDB documents kept exactly right by version-conditioned writes.

Every projection is at-least-once in, idempotent by version: applying any permutation and any
duplication of a document's revisions leaves the same state as applying them once, in order.
"""
