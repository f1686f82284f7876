"""Synthetic QLDB ledgers and journal exports with valid hashes (``qldb-cdc simulate``).

``config`` validates what to simulate, ``planner`` makes every random decision, ``documents``
derives document images from small seeds, ``ledger`` builds hashed export blocks, and
``export_writer`` writes them as a QLDB ``ExportJournalToS3`` folder; ``cli`` is the command.
Everything except ``export_writer`` (files) and ``cli`` (argv, stdout) is pure.
"""
