"""Benchmarks that print numbers (`make bench`). Each `bench_*.py` module has a `main()`."""
