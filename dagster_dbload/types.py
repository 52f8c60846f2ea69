"""Type mapping between Arrow, Databricks SQL and DuckDB."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import pyarrow as pa
from sqlglot import exp

from .naming import quote

_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnsupportedTypeError(TypeError):
    """An Arrow column type that Databricks cannot store."""


_SIMPLE: list[tuple[Callable[[pa.DataType], bool], str]] = [
    (pa.types.is_boolean, "BOOLEAN"),
    (pa.types.is_int8, "TINYINT"),
    (pa.types.is_int16, "SMALLINT"),
    (pa.types.is_int32, "INT"),
    (pa.types.is_int64, "BIGINT"),
    (pa.types.is_uint8, "SMALLINT"),
    (pa.types.is_uint16, "INT"),
    (pa.types.is_uint32, "BIGINT"),
    (pa.types.is_uint64, "DECIMAL(20,0)"),
    (pa.types.is_float16, "FLOAT"),
    (pa.types.is_float32, "FLOAT"),
    (pa.types.is_float64, "DOUBLE"),
    (pa.types.is_string, "STRING"),
    (pa.types.is_large_string, "STRING"),
    (pa.types.is_string_view, "STRING"),
    (pa.types.is_binary, "BINARY"),
    (pa.types.is_large_binary, "BINARY"),
    (pa.types.is_binary_view, "BINARY"),
    (pa.types.is_fixed_size_binary, "BINARY"),
    (pa.types.is_date, "DATE"),
    (pa.types.is_null, "STRING"),
]

_FIXES = {
    "decimal256": "cast it to decimal128 with precision <= 38 (pa.decimal128(38, s))",
    "time": "cast it to a string or to a timestamp",
    "duration": "cast it to int64 (e.g. microseconds) or to a string",
    "interval": "cast it to int64 or to a string",
    "union": "split it into separate columns",
}


def arrow_to_databricks(dtype: pa.DataType, column: str = "?") -> str:
    """Databricks SQL type for an Arrow type; unsupported types raise naming the column and a fix."""
    for predicate, name in _SIMPLE:
        if predicate(dtype):
            return name
    if pa.types.is_decimal(dtype):
        if pa.types.is_decimal256(dtype) or dtype.precision > 38:
            _unsupported(column, dtype, "decimal256")
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP" if dtype.tz is not None else "TIMESTAMP_NTZ"
    if pa.types.is_dictionary(dtype):
        return arrow_to_databricks(dtype.value_type, column)
    if pa.types.is_map(dtype):
        key = arrow_to_databricks(dtype.key_type, f"{column}.key")
        return f"MAP<{key}, {arrow_to_databricks(dtype.item_type, f'{column}.value')}>"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype):
        return f"ARRAY<{arrow_to_databricks(dtype.value_type, f'{column}[]')}>"
    if pa.types.is_list_view(dtype) or pa.types.is_large_list_view(dtype):
        return f"ARRAY<{arrow_to_databricks(dtype.value_type, f'{column}[]')}>"
    if pa.types.is_struct(dtype):
        fields = ", ".join(f"{quote(f.name)}: {arrow_to_databricks(f.type, f'{column}.{f.name}')}" for f in dtype)
        return f"STRUCT<{fields}>"
    for kind in ("time", "duration", "interval", "union"):
        if getattr(pa.types, f"is_{kind}")(dtype):
            _unsupported(column, dtype, kind)
    _unsupported(column, dtype, None)
    raise AssertionError  # unreachable


def _unsupported(column: str, dtype: pa.DataType, kind: str | None) -> None:
    fix = _FIXES.get(kind or "", "cast it to a supported type (see the README's type table)")
    raise UnsupportedTypeError(
        f"Column {column!r} has Arrow type {dtype}, which Databricks cannot store: {fix} before returning it."
    )


def parse_type(type_sql: str) -> exp.DataType:
    """Parse a Databricks SQL type; DECIMAL without arguments means DECIMAL(10,0) as on Databricks."""
    dtype = exp.DataType.build(type_sql, dialect="databricks")
    for ident in dtype.find_all(exp.Identifier):
        ident.set("quoted", not _SIMPLE_NAME.match(ident.name))
    for node in dtype.find_all(exp.DataType):
        if node.this == exp.DataType.Type.DECIMAL and not node.expressions:
            node.set(
                "expressions",
                [
                    exp.DataTypeParam(this=exp.Literal.number(10)),
                    exp.DataTypeParam(this=exp.Literal.number(0)),
                ],
            )
    return dtype


# Delta type widening (ALTER COLUMN ... TYPE keeps data and history), and integers written to DOUBLE as they are
WIDENINGS = {
    ("tinyint", "smallint"), ("tinyint", "int"), ("tinyint", "bigint"), ("smallint", "int"),
    ("smallint", "bigint"), ("int", "bigint"), ("float", "double"),
}  # fmt: skip
INTEGERS_AS_DOUBLE = {("tinyint", "double"), ("smallint", "double"), ("int", "double"), ("bigint", "double")}


@functools.lru_cache(maxsize=4096)  # a pure function of a short string, asked for each column of each load
def canonical_type(type_sql: str) -> str:
    """One spelling per type: `INTEGER` and `int` are `int`, `DECIMAL(10,2)` is `decimal(10, 2)`."""
    return parse_type(type_sql).sql("databricks").lower()


def fits(source: str, target: str, cast: bool = False) -> bool:
    """Whether values of type `source` go into a `target` column without loss: the same type, a Delta type
    widening, a DECIMAL with no fewer integral digits nor decimals, or (`cast`) an integer written as DOUBLE.
    The one rule for the IO manager's plans and the local warehouse's writes."""
    source, target = canonical_type(source), canonical_type(target)
    if source == target or (source, target) in WIDENINGS or (cast and (source, target) in INTEGERS_AS_DOUBLE):
        return True
    s, t = parse_type(source), parse_type(target)
    if s.is_type("decimal") and t.is_type("decimal"):
        (sp, ss), (tp, ts) = ([int(p.name) for p in d.expressions] for d in (s, t))
        return ss <= ts and sp - ss <= tp - ts
    return False


def databricks_type_sql(type_sql: str) -> str:
    """Canonical Databricks spelling of a type, e.g. 'array<string>' -> 'ARRAY<STRING>'."""
    return parse_type(type_sql).sql("databricks")


def databricks_to_duckdb(type_sql: str) -> str:
    """DuckDB type that stores a Databricks type with the same Arrow result type (VARIANT as JSON text)."""
    return parse_type(type_sql).transform(_variant_as_json).sql("duckdb")


def _variant_as_json(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.VARIANT:
        return exp.DataType.build("JSON")
    return node


def describe_type(dtype: pa.DataType) -> str:
    """The type name cursor.description shows for an Arrow result column ('bigint', 'timestamp', ...)."""
    if pa.types.is_null(dtype):
        return "void"
    return arrow_to_databricks(dtype).split("<")[0].split("(")[0].lower()
