"""The lowest layer: the change model, the error classes, the JSON codec. Pure, no I/O.

Every other package may import this one; it imports none of them.
"""
