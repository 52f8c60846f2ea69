"""Errors raised by the local SQL warehouse, worded like Databricks' own."""

from __future__ import annotations

import re

import duckdb
from databricks.sql.exc import ServerOperationError


class LocalSQLError(ServerOperationError):
    """A statement failed; the message starts with the Databricks error class, e.g. [PARSE_SYNTAX_ERROR].

    It subclasses the connector's ServerOperationError so callers catch one class for both warehouses.
    """

    def __init__(self, error_class: str, message: str, sqlstate: str = "42000"):
        super().__init__(f"[{error_class}] {message} SQLSTATE: {sqlstate}")
        self.error_class = error_class
        self.sqlstate = sqlstate


def table_not_found(name: str) -> LocalSQLError:
    return LocalSQLError(
        "TABLE_OR_VIEW_NOT_FOUND",
        f"The table or view {name} cannot be found. Verify the spelling and correctness of the schema and "
        "catalog. If you did not qualify the name with a schema, verify the current_schema() output, or "
        "qualify the name with the correct schema and catalog.",
        "42P01",
    )


def schema_not_found(name: str) -> LocalSQLError:
    return LocalSQLError(
        "SCHEMA_NOT_FOUND",
        f"The schema {name} cannot be found. Verify the spelling and correctness of the schema and catalog.",
        "42704",
    )


def unsupported(what: str) -> LocalSQLError:
    return LocalSQLError(
        "UNSUPPORTED_STATEMENT",
        f"The local SQL warehouse does not support {what}; it runs only on a Databricks SQL warehouse. "
        "See the LocalSQLWarehouse docstring for the SQL that runs locally.",
        "0A000",
    )


DIVIDE_BY_ZERO = "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate a zero divisor and return NULL."
_DUCK_ERRORS = [
    (
        re.compile(r"(Conflict on (?:update|tuple deletion)|write-write conflict)[^\n]*"),
        "DELTA_CONCURRENT_TRANSACTION",
        "2D521",
        "ConcurrentTransactionException: a concurrent transaction changed the same rows ({0}). Roll back and try "
        "the operation again.",
    ),
    (
        re.compile(r"\[DIVIDE_BY_ZERO\] ([^\n]+)"),
        "DIVIDE_BY_ZERO",
        "22012",
        "{0}",
    ),
    (
        re.compile(r"\[UNSUPPORTED_FEATURE\.FUNCTION\] ([^\n]+)"),
        "UNSUPPORTED_FEATURE.FUNCTION",
        "0A000",
        "The local SQL warehouse cannot compute {0} as Databricks does; it runs on a Databricks SQL warehouse.",
    ),
    (
        re.compile(r"\[USER_RAISED_EXCEPTION\] ([^\n]+)"),
        "USER_RAISED_EXCEPTION",
        "P0001",
        "{0}",
    ),
    (
        re.compile(r'Referenced column "([^"]+)" not found'),
        "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION",
        "42703",
        "A column, variable, or function parameter with name `{0}` cannot be resolved.",
    ),
    (
        re.compile(r"Could not convert string '([^']*)'"),
        "CAST_INVALID_INPUT",
        "22018",
        "The value '{0}' cannot be cast to the target type because it is malformed.",
    ),
    (
        re.compile(r"NOT NULL constraint failed: ([^\n]+)"),
        "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
        "23502",
        "NOT NULL constraint violated for column: {0}.",
    ),
]


# raised inside a query by the local engine's own error() calls (semantics.py): `[CLASS] message SQLSTATE: s`
_RAISED = re.compile(r"\[([A-Z_]+(?:\.[A-Z_]+)*)\] ([^\n]*?) SQLSTATE: ([0-9A-Z]{5})")


def from_duckdb(error: duckdb.Error) -> LocalSQLError:
    message = str(error)
    raised = _RAISED.search(message)
    if raised:
        return LocalSQLError(raised.group(1), raised.group(2), raised.group(3))
    for pattern, error_class, sqlstate, text in _DUCK_ERRORS:
        m = pattern.search(message)
        if m:
            return LocalSQLError(error_class, text.format(*m.groups()), sqlstate)
    return LocalSQLError("LOCAL_ENGINE_ERROR", message.splitlines()[0], "XX000")
