"""Exception types raised by fashionbench for bad input.

Every error names the file, row or parameter at fault so that a user can fix it without
reading the code.
"""

from __future__ import annotations


class FashionBenchError(Exception):
    """Base class of all fashionbench errors."""


class ContractError(FashionBenchError, ValueError):
    """An artifact (manifest, embedding, ranking or metrics file) breaks its contract."""


class ConfigError(FashionBenchError, KeyError):
    """A parameter in params.yaml is missing, unknown or has a bad value."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class ChecksumError(FashionBenchError, ValueError):
    """A file's content does not match its expected SHA-256."""
