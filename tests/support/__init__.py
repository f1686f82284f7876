"""Helpers shared by the test suites and the benchmarks: builders, readers, real servers."""
