"""Benchmarks: one command each, a table on stdout and JSON in bench/results/ (see BENCHMARKS.md)."""
