"""Benchmarks, run as scripts (``.venv/bin/python bench/<name>.py``); a package for mypy."""
