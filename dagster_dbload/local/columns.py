"""Column definitions and types as Databricks declares, checks and shows them."""

from __future__ import annotations

import re

import pyarrow as pa
from sqlglot import exp

from ..naming import column_problem
from ..types import UnsupportedTypeError, arrow_to_databricks, parse_type
from .catalog import Column, TableMeta, quote_dbx
from .errors import LocalSQLError


def column_def(definition: exp.Expr, typed: bool = True) -> Column:
    """A column of CREATE TABLE / ADD COLUMNS (`typed`), or of a view's column list (name and comment only)."""
    if isinstance(definition, exp.Identifier):
        return Column(definition.name, "")
    kind = definition.args.get("kind")
    if kind is None and not typed:
        kind = exp.DataType.build("STRING")
    if kind is None:
        raise LocalSQLError("PARSE_SYNTAX_ERROR", f"Column {definition.name!r} needs a type.", "42601")
    comment, nullable, identity = None, True, None
    for constraint in definition.args.get("constraints", []):
        if isinstance(constraint.kind, exp.GeneratedAsIdentityColumnConstraint):
            given = constraint.kind.args
            if given.get("expression") is not None or not kind.is_type(exp.DataType.Type.BIGINT):
                raise LocalSQLError(
                    "DELTA_IDENTITY_COLUMNS_UNSUPPORTED_DATA_TYPE"
                    if given.get("expression") is None
                    else "PARSE_SYNTAX_ERROR",
                    f"Identity column {definition.name!r} must be a BIGINT GENERATED {{ALWAYS | BY DEFAULT}} AS IDENTITY.",
                    "428H2",
                )
            start, step = (int(given[k].sql()) if given.get(k) is not None else 1 for k in ("start", "increment"))
            if step == 0:
                raise LocalSQLError("DELTA_IDENTITY_COLUMNS_ILLEGAL_STEP", "IDENTITY column step cannot be 0.", "42611")
            identity = {"start": start, "step": step, "always": bool(constraint.kind.this)}
        elif isinstance(constraint.kind, exp.CommentColumnConstraint):
            comment = constraint.kind.this.name
        elif isinstance(constraint.kind, exp.NotNullColumnConstraint):
            nullable = bool(constraint.kind.args.get("allow_null"))
    return Column(definition.name, parse_type(kind.sql("databricks")).sql("databricks"), comment, nullable,
                  identity=identity)  # fmt: skip


def check_columns(meta: TableMeta) -> None:
    column_mapping = meta.properties.get("delta.columnMapping.mode", "none").lower() != "none"
    seen: set[str] = set()
    for column in meta.columns:
        if column.name.lower() in seen:
            raise LocalSQLError(
                "COLUMN_ALREADY_EXISTS", f"The column {quote_dbx(column.name)} already exists.", "42711"
            )
        seen.add(column.name.lower())
        problem = None if column_mapping else column_problem(column.name)
        if problem:
            raise LocalSQLError(
                "DELTA_INVALID_CHARACTERS_IN_COLUMN_NAMES",
                f"Invalid column name {column.name!r}: {problem}. "
                "Rename the column or set TBLPROPERTIES ('delta.columnMapping.mode' = 'name').",
                "42K05",
            )


def dbx_type(field: pa.Field) -> str:
    try:
        return parse_type(arrow_to_databricks(field.type, field.name)).sql("databricks")
    except UnsupportedTypeError as e:
        raise LocalSQLError("UNSUPPORTED_DATATYPE", str(e), "0A000") from None


def display_type(type_sql: str) -> str:
    """A type as DESCRIBE shows it on Databricks: lower case, no spaces (`decimal(38,0)`, `struct<x:int>`)."""
    return re.sub(r"([,:<(])\s+", r"\1", type_sql.lower())
