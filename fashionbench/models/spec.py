"""Helpers that read a ``spec`` dict (one ``model:`` or ``loss:`` block of params.yaml) strictly.

Every builder lists the keys it understands; an unknown key (a typo) is a ``ConfigError`` that
names the key and the valid ones, so a mistyped parameter never silently falls back to a default.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from fashionbench.core.errors import ConfigError


def check_keys(spec: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Raise ``ConfigError`` if ``spec`` holds a key outside ``allowed``."""
    allowed = set(allowed)
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(allowed)}")


def choice(value: Any, valid: Sequence[str], what: str) -> str:
    """Return ``value`` if it is one of ``valid``, else raise ``ConfigError`` listing them."""
    if value not in valid:
        raise ConfigError(f"{what}: unknown value {value!r}; valid: {list(valid)}")
    return str(value)


def number(spec: Mapping[str, Any], key: str, default: float, where: str, *,
           low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    """``spec[key]`` (or ``default``) as a float in ``[low, high]`` (``(low, high]`` if low_open)."""
    raw = spec.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.{key}: expected a number, got {raw!r}") from exc
    if value != value:  # NaN
        raise ConfigError(f"{where}.{key}: expected a number, got NaN")
    if low is not None and (value < low or (low_open and value == low)):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ConfigError(f"{where}.{key}: must be {bound}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{where}.{key}: must be <= {high}, got {value}")
    return value


def integer(spec: Mapping[str, Any], key: str, default: int | None, where: str, *,
            low: int | None = None) -> int | None:
    """``spec[key]`` (or ``default``) as an int ``>= low``; ``None`` stays ``None``."""
    raw = spec.get(key, default)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or int(raw) != raw:
        raise ConfigError(f"{where}.{key}: expected an integer, got {raw!r}")
    value = int(raw)
    if low is not None and value < low:
        raise ConfigError(f"{where}.{key}: must be >= {low}, got {value}")
    return value


def boolean(spec: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    """``spec[key]`` (or ``default``) as a bool (only true/false are accepted)."""
    raw = spec.get(key, default)
    if not isinstance(raw, bool):
        raise ConfigError(f"{where}.{key}: expected true or false, got {raw!r}")
    return raw
