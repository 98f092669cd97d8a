"""Benchmarks of the flue client (``nox -s bench``; see BENCHMARKS.md). Scripts, not tests."""
