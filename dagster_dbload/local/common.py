"""Results and errors shared by the local engine's statement families."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from .catalog import TableMeta, quote_dbx
from .errors import LocalSQLError


@dataclass
class Result:
    """What one statement returns: a result table (or None) and the affected row count (-1 if none)."""

    table: pa.Table | None = None
    rowcount: int = -1


def table_of(**columns: tuple[pa.DataType, list]) -> pa.Table:
    return pa.table({name: pa.array(values, type=t) for name, (t, values) in columns.items()})


def counts(**counts: int) -> Result:
    table = table_of(**{k: (pa.int64(), [v]) for k, v in counts.items()})
    return Result(table, next(iter(counts.values())))


def fail(error: Exception) -> Any:
    raise error


def table_arg(text: str) -> exp.Table:
    try:
        return sqlglot.parse_one(text.strip(), into=exp.Table, read="databricks")
    except ParseError as e:
        raise syntax_error(e) from None


def already_exists(kind: str, what: str, if_not_exists: bool, sqlstate: str) -> Result:
    """CREATE of something that exists: nothing to do with IF NOT EXISTS, else Databricks' error."""
    if if_not_exists:
        return Result()
    raise LocalSQLError(f"{kind}_ALREADY_EXISTS", f"Cannot create {what} because it already exists.", sqlstate)


def no_catalog(name: str) -> LocalSQLError:
    return LocalSQLError("NO_SUCH_CATALOG_EXCEPTION", f"Catalog '{name}' was not found.", "42704")


def unresolved_column(name: str, meta: TableMeta) -> LocalSQLError:
    return LocalSQLError(
        "UNRESOLVED_COLUMN.WITH_SUGGESTION",
        f"A column, variable, or function parameter with name {quote_dbx(name)} cannot be resolved. "
        f"Did you mean one of the following? [{', '.join(quote_dbx(c.name) for c in meta.columns)}].",
        "42703",
    )


def syntax_error(error: ParseError | str, statement: str | None = None) -> LocalSQLError:
    """[PARSE_SYNTAX_ERROR], with the statement under `== SQL ==` as Databricks shows it."""
    near = ""
    if isinstance(error, ParseError) and error.errors:
        near = str(error.errors[0].get("highlight") or "")
    message = f"Syntax error at or near '{near}'." if near else "Syntax error."
    if statement:
        message += f"\n\n== SQL ==\n{statement}\n"
    return LocalSQLError("PARSE_SYNTAX_ERROR", message, "42601")
