"""Parsing of boolean settings given in metadata or as the SuperAnnotate template's strings."""

from __future__ import annotations

from typing import Any


def flag(value: Any, name: str) -> bool:
    """True/False, or the strings "true"/"false" in any case; anything else raises naming the setting."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{name} must be true or false, not {value!r}.")
