"""Built-in functions DuckDB answers differently from Databricks, as a table of rewrites (in the manner of
sqlglot's Generator.TRANSFORMS): each becomes DuckDB SQL that answers as Databricks does, or is refused with
`[UNSUPPORTED_FEATURE.FUNCTION]` naming it. Never a different answer."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp, parse_one

from .errors import LocalSQLError

# DuckDB's typeof() names -> Databricks' (a name not here is refused when the query runs)
_TYPE_NAMES = {
    "BOOLEAN": "boolean", "TINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "int", "BIGINT": "bigint",
    "FLOAT": "float", "DOUBLE": "double", "VARCHAR": "string", "BLOB": "binary", "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamp", "TIMESTAMP": "timestamp_ntz", '"NULL"': "void",
}  # fmt: skip


def refused(name: str) -> LocalSQLError:
    return LocalSQLError(
        "UNSUPPORTED_FEATURE.FUNCTION",
        f"The local SQL warehouse cannot compute `{name}` as Databricks does, so it refuses it rather than answer "
        "differently; it runs on a Databricks SQL warehouse.",
        "0A000",
    )


def _duck(sql: str, **nodes: exp.Expression) -> exp.Expression:
    """DuckDB SQL with {name} placeholders filled by the given nodes."""
    return parse_one(sql.format(**{k: v.sql("duckdb") for k, v in nodes.items()}), read="duckdb")


def _day_of_week(node: exp.DayOfWeek) -> exp.Expression:  # Sunday = 1 ... Saturday = 7
    return _duck("(DAYOFWEEK(CAST({x} AS DATE)) + 1)", x=node.this)


def _weekday(node: exp.Anonymous) -> exp.Expression:  # Monday = 0 ... Sunday = 6
    return _duck("(ISODOW(CAST({x} AS DATE)) - 1)", x=node.expressions[0])


def _typeof(node: exp.Typeof) -> exp.Expression:
    cases = " ".join(f"WHEN '{duck}' THEN '{name}'" for duck, name in _TYPE_NAMES.items())
    return _duck(
        "CASE TYPEOF({x}) " + cases + " ELSE CASE WHEN TYPEOF({x}) LIKE 'DECIMAL(%' THEN LOWER(TYPEOF({x})) "
        "ELSE ERROR('[UNSUPPORTED_FEATURE.FUNCTION] typeof of a ' || TYPEOF({x}) || ' value') END END",
        x=node.this,
    )


def _percentile(node: exp.Quantile) -> exp.Expression:
    """percentile(x, p): exact, interpolated between the two nearest values (DuckDB's QUANTILE is discrete)."""
    return exp.Anonymous(this="QUANTILE_CONT", expressions=[node.this, node.args["quantile"]])


def _percentile_approx(node: exp.ApproxQuantile) -> exp.Expression:
    """percentile_approx(x, p): the smallest value v with at least a fraction p of the values <= v, exactly
    (Databricks' answer for any input whose distinct values fit its accuracy; DuckDB's t-digest interpolates)."""
    p = node.args["quantile"]
    if isinstance(p, exp.Array) or not isinstance(p, exp.Literal):
        raise refused("percentile_approx with an array of percentages or a non-constant percentage")
    return _duck(
        "LIST_SORT(LIST({x}) FILTER (WHERE {x} IS NOT NULL))[GREATEST(1, CAST(CEIL(COUNT({x}) * {p}) AS BIGINT))]",
        x=node.this, p=p,
    )  # fmt: skip


def _date_format(node: exp.TimeToStr) -> exp.Expression:
    """date_format with fractions of a second: `SSS` is milliseconds (DuckDB's %g); other runs of S are refused."""
    fmt = node.args.get("format")
    text = fmt.name if isinstance(fmt, exp.Literal) else None
    if text is None or "S" not in re.sub(r"%.", "", text):
        return node
    converted = text.replace("SSSSSS", "%f").replace("SSS", "%g")
    if "S" in re.sub(r"%.", "", converted):
        raise refused(f"date_format with the pattern {text!r} (fractions other than SSS or SSSSSS)")
    node = node.copy()
    node.set("format", exp.Literal.string(converted))
    return node


def _refuse(name: str) -> Callable[[exp.Expression], exp.Expression]:
    def refuse(node: exp.Expression) -> exp.Expression:
        raise refused(name)

    return refuse


BY_KIND: dict[type[exp.Expression], Callable] = {
    exp.DayOfWeek: _day_of_week,
    exp.Typeof: _typeof,
    exp.Quantile: _percentile,
    exp.ApproxQuantile: _percentile_approx,
    exp.TimeToStr: _date_format,
}
BY_NAME: dict[str, Callable] = {  # functions sqlglot leaves anonymous
    "weekday": _weekday,
    "hash": _refuse("hash (Murmur3 of Spark's own encoding)"),
}


def rewrite(node: exp.Expression) -> exp.Expression:
    """`node` as DuckDB answers it the Databricks way (unchanged when it needs nothing)."""
    fix = BY_NAME.get(node.name.lower()) if isinstance(node, exp.Anonymous) else BY_KIND.get(type(node))
    return fix(node) if fix else node
