"""Benchmarks run by `make bench`: each module exposes NAME and run() -> list of lines."""
