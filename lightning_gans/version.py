"""The package's version, in a module of its own so any module can read it without importing
the whole package (``lightning_gans/__init__.py`` imports everything)."""

__version__ = "0.2.0"
