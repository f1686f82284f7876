"""The replay engine: applies journal exports to projections, resumably, in one or many
processes, and verifies their hash chain.
"""
