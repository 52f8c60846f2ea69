"""Parsing of settings given in metadata: booleans (also the SuperAnnotate template's strings) and column lists."""

from __future__ import annotations

from typing import Any


def names(value: Any) -> tuple[str, ...]:
    """A column list setting: one name, a sequence of names, or None (no columns)."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def flag(value: Any, name: str) -> bool:
    """True/False, or the strings "true"/"false" in any case; anything else raises naming the setting."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{name} must be true or false, not {value!r}.")
