"""Benchmarks run by `make bench`: each module here with a `run(args) -> None` prints its figures."""
