"""Benchmark targets: host interpreters, the generated C engine, emulated and real boards."""
