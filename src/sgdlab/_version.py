"""sgdlab's version (one place; read by the package, provenance records and caches)."""

__version__ = "0.1.0"
