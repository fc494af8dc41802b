"""edgepipe host side: data, training, compression, conversion, preflight, benchmarks, reports."""

__version__ = "0.1.0"
