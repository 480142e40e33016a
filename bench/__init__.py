"""Benchmarks that anyone can rerun; each compares with an anchor in the same run."""
