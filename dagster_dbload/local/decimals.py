"""Division of DECIMALs as Databricks does it: the result is a DECIMAL (DuckDB's is a DOUBLE) of Spark's precision
and scale, rounded half up, computed exactly on 128-bit integers."""

from __future__ import annotations

from decimal import Decimal

import duckdb
from sqlglot import exp

from ..types import parse_type

# Temporary macros on each DuckDB connection: the unscaled integer of a DECIMAL(38, s), a quotient rounded half
# up, and an unscaled integer written with s decimals (cast back to DECIMAL exactly).
MACROS = [
    "CREATE OR REPLACE TEMP MACRO __dbx_unscaled(x) AS CAST(replace(CAST(x AS VARCHAR), '.', '') AS HUGEINT)",
    # lambdas bind each argument once (a macro would paste it at every use)
    "CREATE OR REPLACE TEMP MACRO __dbx_rounded(n, d) AS list_transform([[n, d]], lambda v: v[1] // v[2] + CASE WHEN "
    "2 * abs(v[1] % v[2]) >= abs(v[2]) THEN CASE WHEN (v[1] < 0) = (v[2] < 0) THEN 1 ELSE -1 END ELSE 0 END)[1]",
    "CREATE OR REPLACE TEMP MACRO __dbx_scaled(q, s) AS list_transform([q], lambda x: (CASE WHEN x < 0 THEN '-' ELSE '' "
    "END) || list_transform([lpad(CAST(abs(x) AS VARCHAR), CAST(greatest(length(CAST(abs(x) AS VARCHAR)), s + 1) "
    "AS INTEGER), '0')], lambda t: CASE WHEN s = 0 THEN t ELSE left(t, -s) || '.' || right(t, s) END)[1])[1]",
]


def install(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(";\n".join(MACROS))


def quotient_type(p1: int, s1: int, p2: int, s2: int) -> tuple[int, int]:
    """Spark's DECIMAL(p1,s1) / DECIMAL(p2,s2) (precision loss allowed): scale max(6, s1 + p2 + 1), at most 38
    digits, keeping the integral digits and at least 6 decimals."""
    scale = max(6, s1 + p2 + 1)
    precision = p1 - s1 + s2 + scale
    if precision > 38:
        integral = precision - scale
        scale, precision = max(38 - integral, min(scale, 6)), 38
    return precision, scale


def literal_type(node: exp.Expr) -> tuple[int, int] | None:
    """The DECIMAL a numeric literal is in decimal arithmetic: 5.52 is DECIMAL(3,2); an integer literal has its
    own digits (2 is DECIMAL(1,0)); None for other nodes and for exponent forms (DOUBLE)."""
    negated = isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)
    literal = node.this if negated else node
    if not isinstance(literal, exp.Literal) or literal.is_string or "e" in literal.name.lower():
        return None
    digits = Decimal(literal.name).as_tuple()
    scale = max(0, -int(digits.exponent))
    return max(len(digits.digits), scale, 1), scale


def type_of(type_sql: str) -> tuple[int, int] | None:
    """(precision, scale) of a DECIMAL type, or of the DECIMAL an integer type is widened to; None otherwise."""
    dtype = parse_type(type_sql)
    T = exp.DataType.Type
    widened = {T.TINYINT: 3, T.SMALLINT: 5, T.INT: 10, T.BIGINT: 20}
    if dtype.this in widened:
        return widened[dtype.this], 0
    if dtype.this == T.DECIMAL:
        p, s = ([int(e.name) for e in dtype.expressions] + [10, 0])[:2] if dtype.expressions else (10, 0)
        return p, s
    return None


def divide(a: exp.Expr, a_type: tuple[int, int], b: exp.Expr, b_type: tuple[int, int],
           zero: exp.Expr) -> exp.Expr:  # fmt: skip
    """a / b as a DECIMAL of quotient_type, rounded half up; `zero` is what a zero divisor gives (an error
    under ANSI mode, else NULL)."""
    (p1, s1), (p2, s2) = a_type, b_type
    precision, scale = quotient_type(p1, s1, p2, s2)

    def unscaled(x: exp.Expr, p: int, s: int) -> exp.Expr:
        exact = exp.Cast(this=x.copy(), to=exp.DataType.build(f"DECIMAL({p},{s})"))  # exp.cast would merge them
        return exp.Anonymous(
            this="__dbx_unscaled", expressions=[exp.Cast(this=exact, to=exp.DataType.build(f"DECIMAL(38,{s})"))]
        )

    n = exp.Mul(this=unscaled(a, p1, s1), expression=exp.cast(exp.Literal.number(10 ** (scale - s1 + s2)), "HUGEINT"))
    d = unscaled(b, p2, s2)
    d = exp.Case(ifs=[exp.If(this=exp.EQ(this=d.copy(), expression=exp.Literal.number(0)), true=zero)], default=d)
    quotient = exp.Anonymous(this="__dbx_rounded", expressions=[exp.Paren(this=n), d])
    text = exp.Anonymous(this="__dbx_scaled", expressions=[quotient, exp.Literal.number(scale)])
    return exp.cast(text, exp.DataType.build(f"DECIMAL({precision},{scale})"))
