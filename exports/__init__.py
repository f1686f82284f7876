"""The export reader: finds, plans and reads the objects of QLDB journal exports.

Local folders and S3 prefixes, with every key from a manifest confined to its source.
"""
