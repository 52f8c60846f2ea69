"""Unity Catalog naming rules, shared by the IO manager and the local warehouse."""

from __future__ import annotations

import re
from dataclasses import dataclass

_BAD_NAME = re.compile(r"[.\s/\x00-\x1f\x7f]")
_BAD_COLUMN = re.compile(r"[ ,;{}()\n\t=]")


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a catalog, schema, table or volume, or None when it can."""
    if not name:
        return "it is empty"
    if len(name) > 255:
        return "it is longer than 255 characters"
    bad = _BAD_NAME.search(name)
    if bad:
        return f"it contains {bad.group()!r} (periods, spaces, slashes and control characters are not allowed)"
    return None


def column_problem(name: str) -> str | None:
    """Why `name` cannot name a Delta column without column mapping, or None when it can."""
    if not name:
        return "it is empty"
    bad = _BAD_COLUMN.search(name)
    if bad:
        return f"it contains {bad.group()!r} (none of ' ,;{{}}()\\n\\t=' may appear in a Delta column name)"
    return None


def quote(name: str) -> str:
    """Backtick-quote one identifier."""
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True)
class TableRef:
    """A Unity Catalog table, names lower-cased as Unity Catalog stores them."""

    catalog: str
    schema: str
    table: str

    def __post_init__(self) -> None:
        for kind in ("catalog", "schema", "table"):
            value = getattr(self, kind)
            problem = name_problem(value)
            if problem:
                raise ValueError(
                    f"Invalid {kind} name {value!r}: {problem}. Set the `{kind}` definition metadata on the asset "
                    f"(or the IO manager's `{kind}`) to a valid Unity Catalog name, e.g. {_suggest(value)!r}."
                )
            object.__setattr__(self, kind, value.lower())

    @property
    def sql(self) -> str:
        """`catalog`.`schema`.`table`"""
        return ".".join(quote(p) for p in (self.catalog, self.schema, self.table))

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"


def _suggest(name: str) -> str:
    return re.sub(r"[.\s/\x00-\x1f\x7f]+", "_", name)[:255] or "my_table"
