"""Binding `:name` and `?` parameters as SQL literals built as AST nodes (never pasted as text)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from ..types import parse_type
from .errors import LocalSQLError


def literal(value: Any) -> exp.Expr:
    if isinstance(value, exp.Expr):  # a typed value already (EXECUTE IMMEDIATE's USING)
        return value.copy()
    value = getattr(value, "value", value)  # the connector's typed parameter objects
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, float):  # a DOUBLE, as the connector types it (inf and nan included)
        text = (
            "NaN"
            if math.isnan(value)
            else ("Infinity" if value > 0 else "-Infinity")
            if math.isinf(value)
            else repr(value)
        )
        return exp.cast(exp.Literal.string(text), parse_type("DOUBLE"))
    if isinstance(value, (int, Decimal)):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        kind = "TIMESTAMP" if value.tzinfo else "TIMESTAMP_NTZ"
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), parse_type(kind))
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), parse_type("DATE"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[literal(v) for v in value])
    if isinstance(value, dict):
        keys = exp.Array(expressions=[literal(k) for k in value])
        return exp.VarMap(keys=keys, values=exp.Array(expressions=[literal(v) for v in value.values()]))
    raise LocalSQLError("INVALID_PARAMETER_VALUE", f"Cannot bind a parameter of type {type(value).__name__}.")


def bind(statement: exp.Expr, parameters: Mapping[str, Any] | Sequence[Any] | None) -> exp.Expr:
    """Replace :name and ? markers with literals built as AST nodes (never pasted as text)."""
    placeholders = list(statement.find_all(exp.Placeholder))
    if not placeholders:
        return statement
    positional = list(parameters) if isinstance(parameters, Sequence) and not isinstance(parameters, str) else None
    named = parameters if isinstance(parameters, Mapping) else {}
    position = 0
    for marker in placeholders:
        if marker.name and marker.name != "?":
            if marker.name not in named:
                raise LocalSQLError("UNBOUND_SQL_PARAMETER", f"Found the unbound parameter: {marker.name}.", "42P02")
            marker.replace(literal(named[marker.name]))
        else:
            if positional is None or position >= len(positional):
                raise LocalSQLError("UNBOUND_SQL_PARAMETER", "Found an unbound positional parameter.", "42P02")
            marker.replace(literal(positional[position]))
            position += 1
    return statement
