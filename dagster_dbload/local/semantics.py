"""Spark SQL's semantics (ANSI mode, as Databricks runs it) as a dispatch table over a typed tree.

A query is typed before it runs: each expression gets its Spark type where it can be known (literals by Spark's
literal rules, casts, the catalog's columns, and each rule's result type). Each operator and function Spark and
DuckDB answer differently has one `Rule` here: its result type and its lowering onto DuckDB, which carries Spark's
NULL handling and ANSI errors (with Databricks' error classes) or refuses by name. A lowering that needs an operand's
type and cannot know it statically decides on DuckDB's own type of the operand (`typeof`, fixed when DuckDB binds
the query), never on the data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from sqlglot import exp, parse_one

from . import decimals, functions
from .errors import DIVIDE_BY_ZERO, LocalSQLError
from .functions import duck, refused
from .naming import typed_length

T = exp.DataType.Type
Type: TypeAlias = "exp.DataType | None"  # None: not known statically
INTEGRAL = {T.TINYINT: "TINYINT", T.SMALLINT: "SMALLINT", T.INT: "INTEGER", T.BIGINT: "BIGINT"}
_DUCK_INTEGRAL = "('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER')"
_SPARK_NAMES = {T.TINYINT: "TINYINT", T.SMALLINT: "SMALLINT", T.INT: "INT", T.BIGINT: "BIGINT"}
# Spark trims these around a number it reads from a string (UTF8String.trimAll: whitespace and ISO controls)
_NUMBER_TEXT = r"^[\x00-\x20]*[+-]?[0-9]+[\x00-\x20]*$"


@dataclass(frozen=True)
class Settings:
    """What a lowering may depend on besides the query: the session's settings."""

    ansi: bool = True
    precision_loss: bool = True  # spark.sql.decimalOperations.allowPrecisionLoss
    cte_precedence: str = "corrected"  # spark.sql.legacy.ctePrecedencePolicy: corrected, legacy or exception


@dataclass(frozen=True)
class Rule:
    """One operator or function as Spark computes it: `returns(node, argument types, settings)` is its Spark type (None:
    unknown), `lower(node, argument types, settings)` the DuckDB expression computing Spark's answer."""

    returns: Callable[[exp.Expr, Sequence[Type], Settings], Type]
    lower: Callable[[exp.Expr, Sequence[Type], Settings], exp.Expr]


# --- DuckDB building blocks -------------------------------------------------------------------------------------


def _error(error_class: str, message: exp.Expr | str, sqlstate: str) -> exp.Expr:
    """DuckDB's error() with Databricks' wording: `[CLASS] message SQLSTATE: s`."""
    return exp.Anonymous(this="error", expressions=[_concat(f"[{error_class}] ", message, f" SQLSTATE: {sqlstate}")])


def _once(value: exp.Expr, body: str, **others: exp.Expr) -> exp.Expr:
    """`body` with `{v}` bound to `value` once (a CASE would evaluate a pasted rand() at each use)."""
    return duck("list_transform([{value}], lambda v: " + body + ")[1]", value=value, **others)


# --- types --------------------------------------------------------------------------------------------------------


def literal_type(node: exp.Expr) -> Type:
    """Spark's type of a literal (a negated number too, as Spark's parser reads `-2147483648`): INT, BIGINT or
    DECIMAL(p, 0) by size; DECIMAL(p, s) with a point; DOUBLE with an exponent; STRING."""
    negated = isinstance(node, exp.Neg)
    literal = node.this if negated else node
    if not isinstance(literal, exp.Literal):
        return None
    if literal.is_string:
        return None if negated else exp.DataType.build("STRING")
    exact = decimals.literal_type(node)
    if exact is None:
        if re.search(r"[eE]", literal.name):
            if abs(float(literal.name)) == float("inf"):
                raise LocalSQLError(
                    "INVALID_NUMERIC_LITERAL_RANGE",
                    f"Numeric literal {literal.name} is outside the valid range for DOUBLE.",
                    "22003",
                )
            return exp.DataType.build("DOUBLE")
        return None
    precision, scale = exact
    if precision > 38:
        raise LocalSQLError(
            "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION",
            f"Decimal precision {precision} exceeds max precision 38.",
            "22003",
        )
    if scale == 0 and "." not in literal.name:
        value = -int(literal.name) if negated else int(literal.name)
        if -(2**31) <= value < 2**31:
            return exp.DataType.build("INT")
        if -(2**63) <= value < 2**63:
            return exp.DataType.build("BIGINT")
    return exp.DataType.build(f"DECIMAL({precision}, {scale})")


def _is(t: Type, *kinds: object) -> bool:
    return t is not None and t.this in kinds


def _same(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    return types[0] if types else None


def _fixed(type_sql: str) -> Callable[[exp.Expr, Sequence[Type], Settings], Type]:
    built = exp.DataType.build(type_sql, dialect="databricks")
    return lambda node, types, settings: built


# --- casts --------------------------------------------------------------------------------------------------------


def _cast_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    assert isinstance(node, exp.Cast)
    if node.to.this == T.DECIMAL and not node.to.expressions:
        node.set("to", exp.DataType.build("DECIMAL(10, 0)"))  # DECIMAL, DEC, NUMERIC alone
    if node.to.this in (T.TIMESTAMP, T.TIMESTAMPNTZ, T.TIMESTAMPLTZ, T.TIMESTAMPTZ) and node.to.expressions:
        raise refused(f"a {node.to.sql('databricks')} (a timestamp of a chosen precision)")
    return node.to


def _lower_cast(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """CAST / TRY_CAST to an integral type: fractions truncate toward zero, a string must be a whole number
    (CAST_INVALID_INPUT), a value out of range is CAST_OVERFLOW; TRY_CAST (or ANSI off) gives NULL instead."""
    assert isinstance(node, exp.Cast)
    target = node.to.this
    if target not in INTEGRAL:
        return node
    source = types[0]
    if (
        source is not None
        and source.this in INTEGRAL
        and list(INTEGRAL).index(source.this) <= list(INTEGRAL).index(target)
    ):
        return node  # widening: exact in DuckDB too
    strict = settings.ansi and not isinstance(node, exp.TryCast)
    duck, spark = INTEGRAL[target], _SPARK_NAMES[target]
    invalid = (
        _error(
            "CAST_INVALID_INPUT",
            _concat(
                "The value '",
                exp.column("v"),
                f'\' of the type "STRING" cannot be cast to "{spark}" because it is malformed. Correct the value as per '
                "the syntax, or change its target type. Use `try_cast` to tolerate malformed input and return NULL "
                "instead.",
            ),
            "22018",
        ).sql("duckdb")
        if strict
        else "NULL"
    )
    overflow = (
        _error(
            "CAST_OVERFLOW",
            f'The value cannot be cast to "{spark}" due to an overflow. Use `try_cast` to tolerate overflow and '
            "return NULL instead.",
            "22003",
        ).sql("duckdb")
        if strict
        else "NULL"
    )
    fits = f"TRY_CAST({{x}} AS {duck}) IS NOT NULL"
    whole = f"CASE WHEN {fits.format(x='t')} THEN CAST(t AS {duck}) ELSE {overflow} END"
    # the integer part of a DECIMAL, exactly: from its text (DuckDB's CAST rounds, TRUNC is exact but typed)
    from_decimal = "list_transform([regexp_extract(CAST(v AS VARCHAR), '^-?[0-9]+')], lambda t: " + whole + ")[1]"
    from_float = (
        "CASE WHEN isnan(TRY_CAST(v AS DOUBLE)) OR isinf(TRY_CAST(v AS DOUBLE)) THEN "
        + overflow
        + " ELSE list_transform([trunc(TRY_CAST(v AS DOUBLE))], lambda t: "
        + whole
        + ")[1] END"
    )
    from_string = (
        f"CASE WHEN NOT regexp_matches(CAST(v AS VARCHAR), '{_NUMBER_TEXT}') THEN {invalid} ELSE "
        "list_transform([trim(CAST(v AS VARCHAR), chr(0) || chr(1) || chr(2) || chr(3) || chr(4) || chr(5) || chr(6) "
        "|| chr(7) || chr(8) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(14) || chr(15) || chr(16) || "
        "chr(17) || chr(18) || chr(19) || chr(20) || chr(21) || chr(22) || chr(23) || chr(24) || chr(25) || chr(26) || "
        f"chr(27) || chr(28) || chr(29) || chr(30) || chr(31) || ' ')], lambda t: CASE WHEN {fits.format(x='t')} "
        f"THEN CAST(t AS {duck}) ELSE {invalid} END)[1] END"
    )
    from_other = f"CASE WHEN {fits.format(x='v')} THEN CAST(v AS {duck}) ELSE {overflow} END"
    if source is None:  # DuckDB's type of the operand decides (fixed when the query binds)
        body = (
            f"CASE WHEN typeof(v) LIKE 'DECIMAL%' THEN {from_decimal} WHEN typeof(v) IN ('DOUBLE', 'FLOAT') THEN "
            f"{from_float} WHEN typeof(v) = 'VARCHAR' THEN {from_string} ELSE {from_other} END"
        )
    elif source.this == T.DECIMAL:
        body = from_decimal
    elif source.this in (T.DOUBLE, T.FLOAT):
        body = from_float
    elif source.this in exp.DataType.TEXT_TYPES:
        body = from_string
    else:
        body = from_other
    if isinstance(node.this, exp.Null):
        return node
    return exp.Cast(
        this=_once(node.this, f"CASE WHEN v IS NULL THEN NULL ELSE {body} END"), to=exp.DataType.build(duck)
    )


# --- operators ----------------------------------------------------------------------------------------------------


def _lower_int_div(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """a div b: the quotient truncated toward zero, a BIGINT (DuckDB's // keeps the operands' type)."""
    if any(t is not None and t.this not in INTEGRAL and t.this != T.NULL for t in types):
        raise refused("div of non-integral operands")
    checks = [
        f"typeof({{x}}) NOT IN {_DUCK_INTEGRAL}".format(x=arg.sql("duckdb"))
        for arg, t in zip((node.this, node.expression), types, strict=True)
        if t is None
    ]
    quotient = exp.cast(node, exp.DataType.build("BIGINT"))
    if not checks:
        return quotient
    return exp.Case(
        ifs=[exp.If(this=parse_one(" OR ".join(checks), read="duckdb"), true=_unsupported_at_run("div"))],
        default=quotient,
    )


def _unsupported_at_run(what: str) -> exp.Expr:
    return _error(
        "UNSUPPORTED_FEATURE.FUNCTION",
        f"The local SQL warehouse cannot compute {what} of these operand types as Databricks does, so it refuses it "
        "rather than answer differently; it runs on a Databricks SQL warehouse.",
        "0A000",
    )


def _lower_sub(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    dated = any(_is(t, T.DATE) for t in types)
    if dated and all(_is(t, T.DATE, T.NULL, *_STRINGS) for t in types):
        raise refused("date - date (an INTERVAL DAY; datediff(end, start) gives the days as an INT)")
    return node


# --- numbers and implicit casts -----------------------------------------------------------------------------------
# Spark's ANSI coercion (AnsiTypeCoercion, DecimalPrecision): integral types widen in order; an integral meeting a
# DECIMAL is the DECIMAL that holds it (an integer literal the one its digits need); FLOAT/DOUBLE meeting anything
# else numeric is DOUBLE; a STRING meeting an integral is read as BIGINT, meeting a fraction as DOUBLE; BOOLEAN,
# dates and numbers do not mix.

_WIDENING = [T.TINYINT, T.SMALLINT, T.INT, T.BIGINT]
_HELD_BY = {T.TINYINT: 3, T.SMALLINT: 5, T.INT: 10, T.BIGINT: 20}  # DECIMAL(p, 0) holding each integral type
_FRACTIONS = {T.FLOAT, T.DOUBLE}
_STRINGS = {T.TEXT, T.VARCHAR, T.CHAR}
_DATETIMES = {T.DATE, T.TIMESTAMP, T.TIMESTAMPNTZ, T.TIMESTAMPLTZ, T.TIMESTAMPTZ}


def _numeric(t: exp.DataType) -> bool:
    return t.this in _HELD_BY or t.this in _FRACTIONS or t.this == T.DECIMAL


def _decimal_digits(t: exp.DataType, node: exp.Expr | None = None) -> tuple[int, int]:
    """(precision, scale) of `t` in decimal arithmetic; an integer literal `node` needs only its own digits."""
    if t.this == T.DECIMAL:
        if not t.expressions:
            return 10, 0
        digits = [int(e.name) for e in t.expressions]
        return digits[0], digits[1] if len(digits) > 1 else 0
    if node is not None and (found := node.meta.get("digits") or decimals.literal_type(_unwrapped(node))):
        return found
    return _HELD_BY[t.this], 0


def _is_null(node: exp.Expr | None) -> bool:
    """A NULL literal, typed or not (`NULL`, `CAST(NULL AS BOOLEAN)`)."""
    return isinstance(node, exp.Null) or (isinstance(node, exp.Cast) and isinstance(node.this, exp.Null))


def _unwrapped(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _bounded(precision: int, scale: int, settings: Settings = Settings()) -> exp.DataType:
    """DECIMAL(precision, scale) at most 38 digits: keeping the integral digits and at least 6 decimals (Spark's
    adjustPrecisionScale) when precision loss is allowed, else the first 38."""
    if precision > 38 and not settings.precision_loss:
        precision, scale = 38, min(scale, 38)
    if precision > 38:
        integral = precision - scale
        scale, precision = max(38 - integral, min(scale, 6)), 38
    return exp.DataType.build(f"DECIMAL({precision}, {scale})")


def _sql_type(t: exp.DataType) -> str:
    return '"' + t.sql("databricks").upper().replace(", ", ",").replace("TEXT", "STRING") + '"'


def _mismatch(
    node: exp.Expr, detail: str, error_class: str = "DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES"
) -> LocalSQLError:
    return LocalSQLError(
        error_class, f'Cannot resolve "{node.sql("databricks")}" due to data type mismatch: {detail}.', "42K09"
    )


def _operands_mismatch(node: exp.Expr, a: exp.DataType, b: exp.DataType) -> LocalSQLError:
    return _mismatch(
        node,
        f"the left and right operands of the binary operator have incompatible types ({_sql_type(a)} and "
        f"{_sql_type(b)})",
    )


def _common(a: exp.DataType, b: exp.DataType, nodes: tuple[exp.Expr, exp.Expr] | None = None) -> Type:
    """The type two values of types `a` and `b` are both cast to (Spark's wider type), None if there is none."""
    if a == b:
        return a
    if a.this == T.NULL:
        return b
    if b.this == T.NULL:
        return a
    if a.this in _STRINGS and b.this in _STRINGS:
        return exp.DataType.build("STRING")
    for x, y in ((a, b), (b, a)):
        if x.this in _STRINGS:
            if y.this in _HELD_BY:
                return exp.DataType.build("BIGINT")
            if _numeric(y):
                return exp.DataType.build("DOUBLE")
            if y.this in _DATETIMES or y.this == T.BOOLEAN:
                return y
            return None
    if {a.this, b.this} <= set(_WIDENING):
        return max(a, b, key=lambda t: _WIDENING.index(t.this))
    if _numeric(a) and _numeric(b):
        if a.this in _FRACTIONS or b.this in _FRACTIONS:
            return exp.DataType.build("FLOAT" if a.this == b.this == T.FLOAT else "DOUBLE")
        (p1, s1), (p2, s2) = (_decimal_digits(t, n) for t, n in zip((a, b), nodes or (None, None), strict=True))
        scale = max(s1, s2)
        return _bounded(max(p1 - s1, p2 - s2) + scale, scale)
    if a.this in _DATETIMES and b.this in _DATETIMES:
        return a if a.this != T.DATE else b
    return None


def _common_of(types: Sequence[Type]) -> Type:
    """The wider type of all `types` (None if one is not known, or they have none)."""
    common = types[0] if types else None
    for t in types[1:]:
        common = _common(common, t) if common is not None and t is not None else None
    return common


def _wrong_type(node: exp.Expr, t: exp.DataType) -> LocalSQLError:
    return _mismatch(
        node,
        'the binary operator requires the input type ("NUMERIC" or "INTERVAL DAY TO SECOND" or "INTERVAL YEAR TO '
        f'MONTH" or "INTERVAL"), not {_sql_type(t)}',
        "DATATYPE_MISMATCH.BINARY_OP_WRONG_TYPE",
    )


_OPERATOR_OF: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.SafeAdd: exp.Add,
    exp.SafeSubtract: exp.Sub,
    exp.SafeMultiply: exp.Mul,
    exp.SafeDivide: exp.Div,
}


def _arithmetic_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """+ - * / % and pmod of numbers: Spark's result type (None where an operand's type is not known or is not a
    number or string: dates and intervals keep their own rules)."""
    a, b = types[0], types[1] if len(types) > 1 else None
    if a is None or b is None:
        return None
    operator = _OPERATOR_OF.get(type(node), type(node))  # try_add is typed as +
    if {a.this, b.this} & (_DATETIMES - {T.DATE}) and {a.this, b.this} & _STRINGS:
        raise _wrong_type(node, a)
    if T.NULL in (a.this, b.this) and ({a.this, b.this} & _DATETIMES):
        dated = b if a.this == T.NULL else a  # date + NULL is a TIMESTAMP, a datetime - NULL an interval
        if operator is exp.Sub:
            raise refused("a date or timestamp minus NULL (an INTERVAL)")
        if operator is not exp.Add:
            return None
        return exp.DataType.build("TIMESTAMPTZ") if dated.this == T.DATE else dated
    if a.this in _DATETIMES or b.this in _DATETIMES or a.this == T.INTERVAL or b.this == T.INTERVAL:
        if operator is exp.Add and {a.this, b.this} & {T.DATE} and {a.this, b.this} & set(_WIDENING[:3]):
            return exp.DataType.build("DATE")
        date, interval = (a, b) if a.this == T.DATE else (b, a)
        days = interval.this == T.INTERVAL and [e.sql("databricks").upper() for e in interval.expressions][:1] in (
            ["DAY"], ["DAYS"]
        )  # fmt: skip
        if date.this == T.DATE and days and (operator is exp.Add or (operator is exp.Sub and date is a)):
            return exp.DataType.build("DATE")  # a DATE plus or minus whole days
        return None
    if T.NULL in (a.this, b.this):
        other = b if a.this == T.NULL else a
        if other.this in _STRINGS:
            raise _wrong_type(node, other)  # a string is not cast beside an untyped NULL
        if operator is exp.Div and a.this == T.NULL and other.this == T.DECIMAL:
            return exp.DataType.build("DOUBLE")  # Spark's NULL / DECIMAL (not DECIMAL / NULL)
        if other.this == T.NULL or other.this in _STRINGS:
            return exp.DataType.build("DOUBLE")
        return _arithmetic_returns(node, [other, other], settings) if _numeric(other) else None
    if {a.this, b.this} <= _STRINGS | {T.BOOLEAN}:
        raise _wrong_type(node, a)
    if T.BOOLEAN in (a.this, b.this):
        raise _operands_mismatch(node, a, b)
    if not all(_numeric(t) or t.this in _STRINGS for t in (a, b)):
        return None
    operands = _arguments(node)
    common = _common(a, b, (operands[0], operands[1]))
    assert common is not None
    if common.this != T.DECIMAL:
        return exp.DataType.build("DOUBLE") if operator is exp.Div else common
    (p1, s1), (p2, s2) = (_decimal_digits(t, n) for t, n in ((a, operands[0]), (b, operands[1])))
    if operator in (exp.Add, exp.Sub):
        scale = max(s1, s2)
        return _bounded(max(p1 - s1, p2 - s2) + scale + 1, scale, settings)
    if operator is exp.Mul:
        return _bounded(p1 + p2 + 1, s1 + s2, settings)
    if operator is exp.Div:
        return exp.DataType.build("DECIMAL({}, {})".format(*decimals.quotient_type(p1, s1, p2, s2)))
    scale = max(s1, s2)  # % and pmod
    return _bounded(min(p1 - s1, p2 - s2) + scale, scale, settings)


def _as(node: exp.Expr, source: Type, to: exp.DataType, settings: Settings) -> exp.Expr:
    """`node` (of Spark type `source`) cast to `to` as Spark's implicit cast does (a string strictly)."""
    if source is not None and source == to:
        return node
    cast = exp.Cast(this=node, to=to.copy())
    return _lower_cast(cast, [source], settings) if to.this in INTEGRAL else cast


def _lower_arithmetic(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """The operands cast to the type Spark computes in, the result to Spark's type; a DECIMAL quotient exactly."""
    result = type_of(node)
    a, b = types[0], types[1] if len(types) > 1 else None
    if result is not None and result.this in _DATETIMES and any(t is not None and t.this == T.NULL for t in (a, b)):
        return exp.Cast(this=exp.null(), to=result.copy())  # a datetime plus NULL
    a, b = (b if a is not None and a.this == T.NULL else a), (a if b is not None and b.this == T.NULL else b)
    if result is not None and result.this == T.DATE and T.INTERVAL in (a.this if a else None, b.this if b else None):
        return exp.Cast(this=node, to=result.copy())  # a DATE plus whole days stays a DATE
    if (a is None) != (b is None) and isinstance(node, exp.Binary):  # e.g. a lateral alias + 1: the literal's own type
        for key, t in (("this", a), ("expression", b)):
            operand = node.args[key]
            if t is not None and t.this in INTEGRAL and isinstance(_unwrapped(operand), exp.Literal):
                node.set(key, exp.Cast(this=operand, to=t.copy()))  # DuckDB would type 1 as narrowly as it fits
    if result is None or a is None or b is None or not (_numeric(result) and (_numeric(a) or _numeric(b))):
        return _lower_sub(node, types, settings) if isinstance(node, exp.Sub) else node
    assert isinstance(node, exp.Binary)  # + - * / % (pmod has its own lowering)
    x, y = node.this, node.expression
    if result.this != T.DECIMAL:
        working = result if not isinstance(node, exp.Div) else exp.DataType.build("DOUBLE")
        if isinstance(node, exp.Div) and a.this in _HELD_BY and b.this in _HELD_BY:
            return node  # DuckDB's / of integers is a DOUBLE already
        for key, operand, t, other in (("this", x, a, b), ("expression", y, b, a)):
            if t.this in _STRINGS and other.this in INTEGRAL and working.this != T.BIGINT:
                operand, t = _as(operand, t, exp.DataType.build("BIGINT"), settings), exp.DataType.build("BIGINT")
            node.set(key, _as(operand, t, working, settings))  # a string beside an integer is read as a BIGINT
        return node
    (p1, s1), (p2, s2) = (_decimal_digits(t, n) for t, n in ((a, x), (b, y)))
    dx, dy = (exp.DataType.build(f"DECIMAL({p}, {s})") for p, s in ((p1, s1), (p2, s2)))
    if isinstance(node, exp.Div):
        zero = exp.Anonymous(this="error", expressions=[exp.Literal.string(DIVIDE_BY_ZERO)]) if settings.ansi else exp.null()  # fmt: skip
        return decimals.divide(_as(x, a, dx, settings), (p1, s1), _as(y, b, dy, settings), (p2, s2), zero)
    if isinstance(node, exp.Mul):  # an exact product: DuckDB may multiply narrow DECIMALs in 18 digits
        dx, dy = (exp.DataType.build(f"DECIMAL(38, {scale})") for scale in (s1, s2))
    node.set("this", _as(x, a, dx, settings))
    node.set("expression", _as(y, b, dy, settings))
    return exp.Cast(this=node, to=result.copy())


def _comparison_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """= <> < <= > >= <=>: BOOLEAN; operands without a common type are Spark's BINARY_OP_DIFF_TYPES."""
    a, b = types
    if a is not None and b is not None and _comparable_by_spark(a, b) is False:
        raise _operands_mismatch(node, a, b)
    return exp.DataType.build("BOOLEAN")


def _comparable_by_spark(a: exp.DataType, b: exp.DataType) -> bool | None:
    """False where Spark refuses the comparison (a BOOLEAN or date with a number, a date with a BOOLEAN); None where
    this module does not know (complex types, intervals)."""
    kinds = [_kind(t) for t in (a, b)]
    if None in kinds:
        return None
    if "string" in kinds:  # a string is read as the other operand's type, but not as an interval or bytes
        return not ({"interval year to month", "interval day to second", "binary"} & set(kinds))
    return kinds[0] == kinds[1]


def _kind(t: exp.DataType) -> str | None:
    """The family Spark compares within (None: one this module does not judge)."""
    if _numeric(t):
        return "number"
    if t.this in _STRINGS:
        return "string"
    if t.this in (T.BINARY, T.VARBINARY):
        return "binary"
    if t.this == T.BOOLEAN:
        return "boolean"
    if t.this in _DATETIMES:
        return "datetime"
    if t.this == T.INTERVAL and t.expressions:
        unit = t.expressions[0].sql("databricks").upper()
        return "interval year to month" if unit.startswith(("YEAR", "MONTH")) else "interval day to second"
    return None


def _lower_comparison(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """A number compared with a string compares as Spark casts the string (to BIGINT or DOUBLE, strictly)."""
    a, b = types
    if a is None or b is None or not ({a.this, b.this} & _STRINGS) or a.this in _STRINGS and b.this in _STRINGS:
        return node
    common = _common(a, b)
    if common is None or not _numeric(common):
        return node
    node.set("this", _as(node.this, a, common, settings))
    node.set("expression", _as(node.expression, b, common, settings))
    return node


def _in_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """x IN (a, b, ...): BOOLEAN; values without a common type are Spark's DATA_DIFF_TYPES."""
    if not node.expressions and node.args.get("query") is None and node.args.get("unnest") is None:
        raise LocalSQLError(
            "INVALID_SQL_SYNTAX.EMPTY_IN_PREDICATE", "IN predicate requires at least one value.", "42000"
        )
    known = [t for t in types if t is not None]
    if len(known) == len(types) and len(types) > 1:
        common = _common_of(known)
        if common is None and all(_comparable_by_spark(x, y) is not None for x in known for y in known):
            raise _mismatch(
                node,
                f"Input to `in` should all be the same type, but it's [{', '.join(_sql_type(t)[1:-1] for t in known)}]",
                "DATATYPE_MISMATCH.DATA_DIFF_TYPES",
            )
    return exp.DataType.build("BOOLEAN")


def _lower_in(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """Strings among numbers are cast as Spark casts them (strictly, to BIGINT or DOUBLE)."""
    if any(t is None for t in types) or not any(t.this in _STRINGS for t in types if t is not None):
        return node
    common = _common_of(types)
    if common is None or not _numeric(common):
        return node
    values = [node.this, *node.expressions]
    cast = [_as(v, t, common, settings) for v, t in zip(values, types, strict=True)]
    node.set("this", cast[0])
    node.set("expressions", cast[1:])
    return node


def _branches(node: exp.Expr) -> list[exp.Expr]:
    """The values a CASE, IF, COALESCE, NVL or IFNULL can give."""
    if isinstance(node, exp.Case):
        return [i.args["true"] for i in node.args.get("ifs") or []] + (
            [node.args["default"]] if node.args.get("default") is not None else []
        )
    if isinstance(node, exp.If):
        return [node.args["true"]] + ([node.args["false"]] if node.args.get("false") is not None else [])
    return [node.this, *node.expressions]


def _branches_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """The wider type of all branches (Spark's DATA_DIFF_TYPES where there is none); None if one is not known."""
    if isinstance(node, exp.If) and isinstance(node.parent, exp.Case):
        return types[0] if types else None
    if any(t is None for t in types) or not types:
        return None
    known = [t for t in types if t is not None]
    common = _common_of(known)
    if common is None:
        if all(_comparable_by_spark(x, y) is not None for x in known for y in known):
            name = "CASE" if isinstance(node, exp.Case) else "if" if isinstance(node, exp.If) else "coalesce"
            raise _mismatch(
                node,
                f"Input to `{name}` should all be the same type, but it's ({' or '.join(_sql_type(t) for t in known)})",
                "DATATYPE_MISMATCH.DATA_DIFF_TYPES",
            )
        return None
    return common


def _lower_branches(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """Each branch cast to the common type (DuckDB picks FLOAT for a BIGINT and a FLOAT, Spark DOUBLE)."""
    common = type_of(node)
    if common is None or (isinstance(node, exp.If) and isinstance(node.parent, exp.Case)):
        return functions.rewrite(node)
    for branch, t in zip(_branches(node), types, strict=True):
        if t is not None and t != common and t.this != T.NULL:
            branch.replace(_as(branch.copy(), t, common, settings))
    return functions.rewrite(node)


# --- functions whose value DuckDB computes in another type ----------------------------------------------------------


def _returning(type_sql: str) -> Rule:
    """A function DuckDB computes as Spark does but in another type (BIGINT for Spark's INT): its answer cast."""
    built = exp.DataType.build(type_sql, dialect="databricks")
    return Rule(
        lambda node, types, settings: built, lambda node, types, settings: exp.cast(functions.rewrite(node), built)
    )


_RANKS = (exp.Rank, exp.DenseRank, exp.RowNumber, exp.Ntile)


def _lower_window(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """rank() and the other ranking functions are INT: the window's value is cast (not the function inside it)."""
    if isinstance(node.this, _RANKS):
        return exp.cast(node, "INTEGER")
    ordered_window = node.args.get("order") is not None or node.args.get("spec") is not None
    if ordered_window and isinstance(node.this, (exp.Median, exp.WithinGroup, exp.PercentileCont, exp.PercentileDisc)):
        raise LocalSQLError(
            "INVALID_WINDOW_SPEC_FOR_AGGREGATION_FUNC",
            f"Cannot specify ORDER BY or a window frame for {node.this.sql('databricks').split('(')[0].lower()}.",
            "42601",
        )
    if isinstance(node.this, exp.GroupConcat) and isinstance(node.this.this, exp.Order):
        raise LocalSQLError(
            "INVALID_WINDOW_SPEC_FOR_AGGREGATION_FUNC",
            "Cannot specify ORDER BY or a window frame for listagg (WITHIN GROUP is its order).",
            "42601",
        )
    return node


# Spark's EXTRACT fields DuckDB numbers alike (DOW: Sunday is 1 in Spark, 0 in DuckDB)
_FIELDS = {
    **dict.fromkeys(("YEAR", "Y", "YEARS", "YR", "YRS"), "year"),
    **dict.fromkeys(("QUARTER", "QTR"), "quarter"),
    **dict.fromkeys(("MONTH", "MON", "MONS", "MONTHS"), "month"),
    **dict.fromkeys(("WEEK", "W", "WEEKS"), "week"),
    **dict.fromkeys(("DAY", "D", "DAYS"), "day"),
    **dict.fromkeys(("DOY",), "doy"),
    **dict.fromkeys(("DAYOFWEEK_ISO", "DOW_ISO"), "isodow"),
    **dict.fromkeys(("HOUR", "H", "HOURS", "HR", "HRS"), "hour"),
    **dict.fromkeys(("MINUTE", "M", "MIN", "MINS", "MINUTES"), "minute"),
}
_SECONDS = ("SECOND", "S", "SEC", "SECONDS", "SECS")


def _extract_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    field = node.this.name.upper()
    if field in _SECONDS:
        return exp.DataType.build("DECIMAL(8, 6)")
    return exp.DataType.build("INT") if field in _FIELDS or field in ("DOW", "DAYOFWEEK") else None


def _lower_extract(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """EXTRACT(field FROM x): INT fields, SECOND as DECIMAL(8,6) with its microseconds; the rest refused."""
    field, value = node.this.name.upper(), node.expression
    if _is(types[1] if len(types) > 1 else None, T.TIME, T.INTERVAL) or isinstance(value, exp.Interval):
        raise refused(f"EXTRACT({field} FROM a TIME or INTERVAL)")
    if field in _SECONDS:
        return duck("CAST(CAST(microsecond({x}) AS DECIMAL(8, 0)) * 0.000001 AS DECIMAL(8, 6))", x=value)
    if field in ("DOW", "DAYOFWEEK"):
        return duck("CAST(dayofweek({x}) + 1 AS INTEGER)", x=value)
    if field not in _FIELDS:
        raise refused(f"EXTRACT({field} FROM ...)")
    return duck(f"CAST(date_part('{_FIELDS[field]}', {{x}}) AS INTEGER)", x=value)


def _lower_locate(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """instr(s, sub) / locate(sub, s[, pos]): 1-based, 0 when absent, an INT. A start position is taken only where
    Spark's locate and instr agree on it (a positive number, a non-empty literal to find)."""
    position, substr = node.args.get("position"), node.args.get("substr")
    if position is not None and typed_length(node) == len("instr"):  # not locate
        return _lower_instr_from(node, types)
    if node.args.get("occurrence") is not None:
        raise refused("instr with an occurrence")
    if position is not None:
        agreed = (
            isinstance(position, exp.Literal) and not position.is_string and int(float(position.name)) >= 1
            and isinstance(substr, exp.Literal) and substr.is_string and substr.name != ""
        )  # fmt: skip
        if not agreed:
            raise refused("locate / instr with a start position that is not a positive number")
    return exp.cast(functions.rewrite(node), "INTEGER")


def _lower_instr_from(node: exp.Expr, types: Sequence[Type]) -> exp.Expr:
    """instr(s, sub, pos[, occurrence]): the occurrence-th start of sub (overlapping matches counted) at or after
    pos, or for a negative pos at or before the pos-th character from the end, searching backwards; 1 for an empty
    sub (whatever pos); else 0 when there is none or pos is 0."""
    occurrence = node.args.get("occurrence") or exp.Literal.number(1)
    if any(t is not None and t.this not in set(INTEGRAL) | {T.NULL} for t in types[2:]):
        raise refused("instr with a position or occurrence that is not an integer")
    matches = "list_filter(range(1, length({s}) + 1), lambda i: substring({s}, i, length({sub})) = {sub})"
    found = duck(
        "CASE WHEN {s} IS NULL OR {sub} IS NULL OR {pos} IS NULL OR {occ} IS NULL THEN NULL "
        "WHEN {occ} < 1 THEN NULL WHEN {sub} = '' THEN 1 WHEN {pos} = 0 THEN 0 "
        f"WHEN {{pos}} > 0 THEN coalesce(list_filter({matches}, lambda i: i >= {{pos}})[{{occ}}], 0) "
        f"ELSE coalesce(list_reverse(list_filter({matches}, lambda i: i <= length({{s}}) + {{pos}} + 1))[{{occ}}], 0) END",
        s=node.this, sub=node.args["substr"], pos=node.args["position"], occ=occurrence,
    )  # fmt: skip
    refusal = _unsupported_at_run("instr with an occurrence below 1")
    checked = exp.Case(ifs=[exp.If(this=exp.LT(this=occurrence.copy(), expression=exp.Literal.number(1)), true=refusal)],
                       default=found)  # fmt: skip
    return exp.cast(checked, "INTEGER")


# --- functions refused where DuckDB's answer is not Spark's ------------------------------------------------------


def _refusing(what: str, when: Callable[[exp.Expr], bool] = lambda node: True) -> Rule:
    """A function (or one form of it) that this module cannot compute as Spark does: refused by name."""

    def lower(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
        if when(node):
            raise refused(what)
        return functions.rewrite(node)

    return Rule(lambda node, types, settings: None, lower)


def _count_arguments(node: exp.Expr) -> bool:
    if node.this is None and not node.expressions:
        raise LocalSQLError(
            "WRONG_NUM_ARGS.WITH_SUGGESTION",
            "The `count` requires at least 1 parameters but the actual number is 0. Please use count(*) or count(1).",
            "42605",
        )
    return isinstance(node.this, exp.Column) and node.this.is_star


def _charset(node: exp.Expr) -> bool:
    charset = node.args.get("charset")
    if charset is None:
        return False
    return not (isinstance(charset, exp.Literal) and charset.name.lower().replace("_", "-") in ("utf-8", "utf8"))


def _datetime_pattern(node: exp.Expr) -> bool:
    """A pattern with a year other than `yyyy` (`yy` reads 2000-2099 in Spark, longer ones pad)."""
    fmt = node.args.get("format")
    return isinstance(fmt, exp.Literal) and (fmt.name.count("%Y") + fmt.name.count("%y") > 1 or "%y" in fmt.name)


# --- functions whose value DuckDB computes in another form -------------------------------------------------------


def _lower_extract_all(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """regexp_extract_all: a group that did not take part in a match is '' (DuckDB: NULL)."""
    return duck("list_transform({x}, lambda m: coalesce(m, ''))", x=functions.rewrite(node))


def _lower_split_part(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """split_part(s, delim, n): n = 0 is INVALID_INDEX_OF_ZERO; an empty delimiter leaves s whole (part 1 or -1)."""
    zero = _error("INVALID_INDEX_OF_ZERO", "The index 0 is invalid. An index shall be either < 0 or > 0 (the first "
                  "element has index 1).", "22003")  # fmt: skip
    return duck(
        "CASE WHEN {n} = 0 THEN {zero} WHEN {d} = '' THEN CASE WHEN {n} IN (1, -1) THEN {s} ELSE '' END ELSE {x} END",
        n=node.args["part_index"], d=node.args["delimiter"], s=node.this, zero=zero, x=functions.rewrite(node),
    )  # fmt: skip


def _lower_url_encode(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """url_encode as Java's URLEncoder writes it: a space is '+', '*' is kept, '~' is encoded."""
    return duck("replace(replace(replace(url_encode({s}), '%20', '+'), '~', '%7E'), '%2A', '*')", s=node.expressions[0])


def _lower_unix_millis(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """unix_millis truncates the microseconds (DuckDB's epoch_ms rounds them)."""
    return duck("CAST(floor(epoch_us({x}) / 1000) AS BIGINT)", x=node.this)


def _ceil_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """ceil/floor: BIGINT of a number, DECIMAL(p - s + 1, 0) of a DECIMAL(p, s)."""
    t = types[0] if types else None
    if t is None:
        return None
    places = node.args.get("decimals")
    if places is not None:
        d = _integer_literal(places)
        if d is None or not (t.this == T.DECIMAL or t.this in _HELD_BY):
            return None
        p, s = _decimal_digits(t)
        scale = max(0, min(s, d))
        return exp.DataType.build(f"DECIMAL({min(max(p - s, -d) + 1 + scale, 38)}, {scale})")
    if t.this == T.DECIMAL:
        p, s = _decimal_digits(t)
        return exp.DataType.build(f"DECIMAL({min(p - s + 1, 38) if s else p}, 0)")
    return exp.DataType.build("BIGINT") if _numeric(t) else None


def _integer_literal(node: exp.Expr) -> int | None:
    node = _unwrapped(node)
    negated = isinstance(node, exp.Neg)
    literal = node.this if negated else node
    if isinstance(literal, exp.Literal) and not literal.is_string and literal.name.isdigit():
        return -int(literal.name) if negated else int(literal.name)
    return None


def _lower_ceil(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """ceil/floor(x[, d]): to d decimal places (d < 0: tens, hundreds...) exactly in DECIMAL arithmetic."""
    result = type_of(node)
    places = node.args.get("decimals")
    if places is not None:
        d = _integer_literal(places)
        if result is None or d is None or types[0] is None:
            raise refused(f"{node.key}(x, d) of this type or with a d that is not an integer literal")
        up, down = (f"1{'0' * d}", "0." + "0" * (d - 1) + "1") if d > 0 else ("1", "1") if d == 0 else (
            "0." + "0" * (-d - 1) + "1", f"1{'0' * -d}")  # fmt: skip
        rounded = duck(f"{node.key}(CAST({{x}} AS DECIMAL(38, {_decimal_digits(types[0])[1]})) * {up}) * {down}",
                       x=node.this)  # fmt: skip
        return exp.Cast(this=rounded, to=result.copy())
    return exp.Cast(this=functions.rewrite(node), to=result.copy()) if result is not None else functions.rewrite(node)


def _lower_within_group(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """percentile_cont(p) WITHIN GROUP (ORDER BY x [DESC]): DuckDB's exact quantile_cont (DESC reads 1 - p);
    percentile_disc is refused (Spark's and DuckDB's discrete rules differ)."""
    function, order = node.this, node.expression
    if not isinstance(function, exp.PercentileCont):
        raise refused(f"{function.sql('databricks')} WITHIN GROUP")
    if not isinstance(order, exp.Order) or len(order.expressions) != 1:
        raise refused("a percentile WITHIN GROUP of several orderings")
    ordered = order.expressions[0]
    p = function.this if not ordered.args.get("desc") else exp.Sub(this=exp.Literal.number(1), expression=function.this)
    return duck("quantile_cont(CAST({x} AS DOUBLE), {p})", x=ordered.this, p=p)


def _lower_index_lambda(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """transform / filter with (x, i) -> ...: Spark's i counts from 0 (DuckDB's from 1) and is an INT."""
    lam = node.expression
    if isinstance(lam, exp.Lambda) and len(lam.expressions) == 2:
        index = lam.expressions[1].name
        lam.set("this", lam.this.transform(
            lambda n: exp.Paren(this=exp.cast(exp.Sub(this=n.copy(), expression=exp.Literal.number(1)), "INTEGER"))
            if isinstance(n, (exp.Column, exp.Identifier)) and n.name == index and not isinstance(n.parent, exp.Column)
            else n
        ))  # fmt: skip
    return functions.rewrite(node)


_SHIFTS = (exp.BitwiseLeftShift, exp.BitwiseRightShift)
_BITWISE = (exp.BitwiseAnd, exp.BitwiseXor, exp.BitwiseOr)


def _lower_shift(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """`a & b >> c` is `a & (b >> c)` in Spark (shifts bind tighter than & ^ |); sqlglot reads `(a & b) >> c`."""
    inner = node.this
    if isinstance(inner, _BITWISE):
        shifted = type(node)(this=inner.expression, expression=node.expression)
        return type(inner)(this=inner.this, expression=_lower_shift(shifted, types, settings))
    return node


def _lower_concat_pipes(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """a || b: a TIMESTAMP operand is written as Spark writes it (no offset)."""
    for key, t in zip(("this", "expression"), types, strict=True):
        if t is not None and t.this in (T.TIMESTAMP, T.TIMESTAMPLTZ, T.TIMESTAMPTZ):
            node.set(key, as_string(node.args[key]))
    return node


def as_string(value: exp.Expr) -> exp.Case:
    """CAST(x AS STRING) as Databricks writes a TIMESTAMP: in the session time zone, without DuckDB's offset
    (`2024-01-01 08:00:00`, not `...+00`); other types cast as they are (`typeof` is decided when binding)."""
    text = exp.Cast(this=value.copy(), to=exp.DataType(this=T.VARCHAR))
    is_tz = exp.EQ(
        this=exp.Anonymous(this="typeof", expressions=[value.copy()]),
        expression=exp.Literal.string("TIMESTAMP WITH TIME ZONE"),
    )
    offset = exp.Literal.string(r"[+-]\d\d(:\d\d)?$")
    stripped = exp.Anonymous(this="regexp_replace", expressions=[text.copy(), offset, exp.Literal.string("")])
    return exp.Case(ifs=[exp.If(this=is_tz, true=stripped)], default=text)


def _lower_safe_divide(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """try_divide(a, b): a / b as Spark types it, NULL for a zero divisor."""
    divisor = exp.Nullif(this=node.expression, expression=exp.Literal.number(0))
    division = exp.Div(this=node.this, expression=divisor)
    division.meta["spark_type"] = node.meta.get("spark_type", _UNKNOWN)
    lenient = Settings(ansi=False, precision_loss=settings.precision_loss)
    result = type_of(node)
    lowered = _lower_arithmetic(division, types, lenient)
    return exp.Cast(this=lowered, to=result.copy()) if result is not None else lowered


_TRIED = (exp.SafeAdd, exp.SafeSubtract, exp.SafeMultiply)


def _lower_try_arithmetic(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """try_add / try_subtract / try_multiply of numbers: the operator as Spark types it, NULL where it overflows."""
    result = type_of(node)
    if len(types) != 2 or result is None or not all(t is not None and (_numeric(t) or t.this == T.NULL) for t in types):
        raise refused(f"{node.sql('databricks').split('(')[0].lower()} of operands that are not both numbers")
    # the operands are computed outside TRY (their own overflow raises), the operator inside it
    operands = []
    for name, operand in (("a", node.this), ("b", node.expression)):
        field = exp.Dot(this=exp.column("p"), expression=exp.to_identifier(name))
        field.meta.update({k: v for k, v in operand.meta.items() if k in ("spark_type", "digits")})
        operands.append(field)
    operation = _OPERATOR_OF[type(node)](this=operands[0], expression=operands[1])
    operation.meta["spark_type"] = result
    strict = Settings(ansi=True, precision_loss=settings.precision_loss)
    tried = exp.Anonymous(this="TRY", expressions=[_lower_arithmetic(operation, types, strict)])
    pair = exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier("a"), expression=node.this),
                                   exp.PropertyEQ(this=exp.to_identifier("b"), expression=node.expression)])  # fmt: skip
    each = duck("LIST_TRANSFORM([{pair}], LAMBDA p : {tried})[1]", pair=pair, tried=tried)
    return exp.Cast(this=each, to=result.copy())


# --- aggregates ---------------------------------------------------------------------------------------------------


def _sum_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """sum: BIGINT of integers, DOUBLE of fractions, DECIMAL(p + 10, s) of a DECIMAL(p, s)."""
    t = types[0] if types else None
    if t is None:
        return None
    if t.this == T.DECIMAL:
        p, s = _decimal_digits(t)
        return _bounded(min(p + 10, 38), s)
    if t.this in _HELD_BY:
        return exp.DataType.build("BIGINT")
    return exp.DataType.build("DOUBLE") if t.this in _FRACTIONS else None


def _avg_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """avg: DOUBLE of numbers, DECIMAL(p + 4, s + 4) of a DECIMAL(p, s)."""
    t = types[0] if types else None
    if t is None:
        return None
    if t.this == T.DECIMAL:
        p, s = _decimal_digits(t)
        return _bounded(min(p + 4, 38), min(s + 4, 38))
    return exp.DataType.build("DOUBLE") if _numeric(t) else None


def _lower_sum(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    result = type_of(node)
    return exp.Cast(this=node, to=result.copy()) if result is not None and result.this == T.DECIMAL else node


def _lower_avg(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """avg of a DECIMAL as Spark computes it: its sum divided by its count in DECIMAL arithmetic, cast to
    DECIMAL(p + 4, s + 4) (DuckDB's avg of a DECIMAL is a DOUBLE)."""
    result = type_of(node)
    if result is None or result.this != T.DECIMAL or types[0] is None:
        return node
    p, s = _decimal_digits(types[0])
    total = exp.Cast(this=exp.Sum(this=node.this.copy()), to=exp.DataType.build(f"DECIMAL({min(p + 10, 38)}, {s})"))
    count = exp.Cast(this=exp.Count(this=node.this.copy()), to=exp.DataType.build("DECIMAL(20, 0)"))
    quotient = decimals.divide(total, (min(p + 10, 38), s), exp.Nullif(this=count, expression=exp.Literal.number(0)),
                               (20, 0), exp.null())  # fmt: skip
    return exp.Cast(this=quotient, to=result.copy())


def _lower_listagg(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """listagg / string_agg: no delimiter (or NULL) joins with nothing (DuckDB: ','); BINARY values are refused
    (DuckDB writes their escapes as text)."""
    separator = node.args.get("separator")
    if separator is None or isinstance(separator, exp.Null):
        node.set("separator", exp.Literal.string(""))
    if _is(types[0] if types else None, T.BINARY, T.VARBINARY):
        raise refused("listagg of BINARY values")
    value = node.this.this if isinstance(node.this, exp.Order) else node.this
    value = value.expressions[0] if isinstance(value, exp.Distinct) else value
    refusal = _unsupported_at_run("listagg of BINARY values")
    value.replace(duck("CASE WHEN typeof({x}) = 'BLOB' THEN {refusal} ELSE {x} END", x=value.copy(), refusal=refusal))
    return functions.rewrite(node)


def _date_add_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """date_add / date_sub(start, days): days is an INT, SMALLINT or TINYINT (a string is read as an INT)."""
    days = types[1] if len(types) > 1 else None
    written = node.expression
    if isinstance(written, exp.Mul) and isinstance(written.expression, exp.Neg):  # date_sub's days, negated by sqlglot
        written, days = written.this, type_of(written.this)
    if days is None or days.this in (T.INT, T.SMALLINT, T.TINYINT, T.NULL) or days.this in _STRINGS:
        return exp.DataType.build("DATE")
    raise _mismatch(
        node,
        f'the second parameter requires the ("INT" or "SMALLINT" or "TINYINT") type, however '
        f"{written.sql('databricks')} has the type {_sql_type(days)}",
        "DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE",
    )


def _lower_date_add(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    days = types[1] if len(types) > 1 else None
    if days is not None and days.this in _STRINGS:
        node.set("expression", _as(node.expression, days, exp.DataType.build("INT"), settings))
    return node


def _regexp_group_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """regexp_extract(s, pattern[, idx]): idx beyond the pattern's groups is INVALID_PARAMETER_VALUE."""
    pattern, group = node.expression, node.args.get("group")
    index = _integer_literal(group) if group is not None else 1
    if isinstance(pattern, exp.Literal) and pattern.is_string and index is not None:
        try:
            groups = re.compile(pattern.name).groups
        except re.error:
            return exp.DataType.build("STRING")
        if index > groups or index < 0:
            raise LocalSQLError(
                "INVALID_PARAMETER_VALUE.REGEX_GROUP_INDEX",
                f"The value of parameter(s) `idx` in `regexp_extract` is invalid: Expects group index between 0 and "
                f"{groups}, but got {index}.",
                "22023",
            )
    return exp.DataType.build("STRING")


def _regexp_replace_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    position = node.args.get("position")
    k = _integer_literal(position) if position is not None else 1
    if k is not None and k < 1:
        raise _mismatch(
            node,
            f"The `position` must be positive, but got {k}",
            "DATATYPE_MISMATCH.VALUE_OUT_OF_RANGE",
        )
    return exp.DataType.build("STRING")


def _lower_literal(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """A number literal with a point is Spark's DECIMAL of its own digits (0.3 is DECIMAL(1,1); DuckDB's is
    DECIMAL(2,1))."""
    t = type_of(node)
    if t is not None and t.this == T.DECIMAL and _is_column(node):
        return exp.Cast(this=node, to=t.copy())
    return node


def _is_column(node: exp.Expr) -> bool:
    """Whether `node` is a SELECT's column of its own (a function's argument keeps its literal form)."""
    parent = node.parent.parent if isinstance(node.parent, exp.Alias) else node.parent
    return isinstance(parent, (exp.Select, exp.Tuple))


def _lower_json_array_length(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """json_array_length: NULL for text that is not a JSON array (DuckDB: 0 for an object, an error if invalid)."""
    return duck(
        "CASE WHEN json_valid({s}) AND json_type({s}) = 'ARRAY' THEN CAST(json_array_length({s}) AS INTEGER) END",
        s=node.expressions[0],
    )


def _lower_regexp_replace(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    position = node.args.get("position")
    if _is_null(position):
        return exp.cast(exp.null(), "VARCHAR")  # a NULL position: NULL
    return functions.rewrite(node)


def _lower_array_join(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    element = types[0].expressions[0] if types and types[0] is not None and types[0].expressions else None
    if isinstance(element, exp.DataType) and element.this in _DATETIMES | {T.TIMESTAMPTZ}:
        raise refused("array_join of dates or timestamps")
    return functions.rewrite(node)


def _lower_pmod(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """pmod(a, b): the operands cast as % casts them, the positive remainder in Spark's type."""
    result = type_of(node)
    a, b = (list(types) + [None, None])[:2]
    if result is None or a is None or b is None or not _numeric(result):
        return functions.rewrite(node)
    x, y = node.expressions[:2]
    if result.this == T.DECIMAL:
        working = [exp.DataType.build("DECIMAL({}, {})".format(*_decimal_digits(t, n))) for t, n in ((a, x), (b, y))]
    else:
        working = [result, result]
    operands = [_as(v, t, w, settings) for v, t, w in zip((x, y), (a, b), working, strict=True)]
    remainder = duck("CASE WHEN ({a}) % ({b}) < 0 THEN (({a}) % ({b}) + ({b})) % ({b}) ELSE ({a}) % ({b}) END",
                     a=operands[0], b=operands[1])  # fmt: skip
    return exp.Cast(this=remainder, to=result.copy())


def _lower_timestamp_add(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """timestampadd / date_add(unit, n, x): a TIMESTAMP in the session time zone (DuckDB: a TIMESTAMP_NTZ)."""
    return exp.Cast(this=functions.rewrite(node), to=exp.DataType.build("TIMESTAMPTZ"))


def _lower_sort_array(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """sort_array(a, NULL) is NULL (of the array's type)."""
    if _is_null(node.args.get("asc")):
        result = type_of(node)
        return exp.Cast(this=exp.null(), to=result.copy()) if result is not None else exp.null()
    return functions.rewrite(node)


def _lower_array_insert(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    position = _integer_literal(node.args["position"])
    if position is None or position < 1:
        raise refused("array_insert at a position that is not a positive integer literal")
    return functions.rewrite(node)


# --- strings ------------------------------------------------------------------------------------------------------


def _lower_substring(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """substring(s, pos[, len]): 1-based; 0 is the first character too, a negative pos counts from the end, and
    the characters before the start are taken from len (Spark's UTF8String.substringSQL)."""
    if _is(types[0], T.BINARY, T.VARBINARY):
        raise refused("substring of a BINARY")
    length = node.args.get("length") or exp.Literal.number(2**31 - 1)
    return duck(
        "list_transform([{{'s': {s}, 'p': {pos}, 'n': {n}}}], lambda q: CASE WHEN q.s IS NULL OR q.p IS NULL OR q.n IS "
        "NULL THEN NULL ELSE list_transform([CASE WHEN q.p > 0 THEN "
        "q.p - 1 WHEN q.p < 0 THEN length(q.s) + q.p ELSE 0 END], lambda st: CASE WHEN greatest(st, 0) >= st + q.n "
        "THEN '' ELSE substr(q.s, greatest(st, 0) + 1, st + q.n - greatest(st, 0)) END)[1] END)[1]",
        s=node.this,
        pos=exp.cast(node.args["start"], "BIGINT"),
        n=exp.cast(length, "BIGINT"),
    )


def _lower_split(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """split(s, regex[, limit]): NULL when the pattern is NULL (DuckDB splits on nothing); [''] for '' (DuckDB: [])."""
    return exp.Case(
        ifs=[
            exp.If(this=exp.Is(this=node.expression.copy(), expression=exp.null()), true=exp.null()),
            exp.If(this=exp.EQ(this=node.this.copy(), expression=exp.Literal.string("")),
                   true=exp.Array(expressions=[exp.Literal.string("")])),
        ],
        default=node,
    )  # fmt: skip


def _lower_to_binary(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """to_binary(s[, fmt]): hex by default (odd lengths take a leading 0), 'utf-8', or 'base64'."""
    fmt = node.args.get("format")
    name = "hex" if fmt is None else fmt.name.lower() if isinstance(fmt, exp.Literal) and fmt.is_string else None
    s = node.this
    if name == "hex":
        invalid = _error(
            "CONVERSION_INVALID_INPUT",
            "The value cannot be converted to BINARY because it is not a valid hexadecimal string. Correct the value, "
            "or use `try_to_binary` to return NULL instead.",
            "22018",
        )
        return _once(
            s,
            "CASE WHEN v IS NULL THEN NULL WHEN NOT regexp_matches(v, '^[0-9A-Fa-f]*$') THEN {invalid} "
            "ELSE unhex(CASE WHEN length(v) % 2 = 1 THEN '0' || v ELSE v END) END",
            invalid=invalid,
        )
    if name in ("utf-8", "utf8"):
        return duck("encode({s})", s=s)
    raise refused("to_binary with a format other than 'hex' or 'utf-8'")


# --- arrays -------------------------------------------------------------------------------------------------------


def _bracket_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    container = types[0]
    if _is(container, T.ARRAY) and container is not None and container.expressions:
        element = container.expressions[0]
        return element if isinstance(element, exp.DataType) else None
    return None


def _lower_bracket(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """arr[i] (0-based) and element_at(arr, i) (1-based, negative from the end): out of bounds is
    INVALID_ARRAY_INDEX(_IN_ELEMENT_AT) under ANSI (try_element_at and ANSI off: NULL); element_at(arr, 0) is
    INVALID_INDEX_OF_ZERO. A MAP's lookup is unchanged."""
    assert isinstance(node, exp.Bracket)
    container = types[0]
    if _is(container, T.MAP):
        return node
    if len(node.expressions) != 1:
        raise refused("a subscript with several keys")
    key = node.expressions[0]
    key_type = types[1] if len(types) > 1 else None
    if isinstance(key, exp.Null) and node.args.get("offset") == 1:
        raise LocalSQLError(
            "DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE",
            'Cannot resolve element_at: the second parameter requires the "INT" type, however NULL has the type '
            '"VOID".',
            "42K09",
        )
    if container is None:
        if (isinstance(key, exp.Literal) and key.is_string) or (key_type is not None and key_type.this not in INTEGRAL):
            return node  # a MAP (an ARRAY cannot be subscripted by these)
        raise refused("a subscript whose container is not known to be an ARRAY or a MAP")
    if not _is(container, T.ARRAY):
        raise refused(f"a subscript of a {container.sql('databricks')}")
    one_based = node.args.get("offset") == 1
    strict = settings.ansi and not node.args.get("safe")
    if one_based:
        out = _out_of_bounds("INVALID_ARRAY_INDEX_IN_ELEMENT_AT", "`try_element_at`", strict)
        zero = _error(
            "INVALID_INDEX_OF_ZERO",
            "The index 0 is invalid. An index shall be either < 0 or > 0 (the first element has index 1).",
            "22003",
        ).sql("duckdb")
        body = (
            f"CASE WHEN i IS NULL OR a IS NULL THEN NULL WHEN i = 0 THEN {zero} WHEN abs(i) > n THEN {out} "
            "WHEN i > 0 THEN a[i] ELSE a[n + i + 1] END"
        )
    else:
        out = _out_of_bounds("INVALID_ARRAY_INDEX", "the SQL function `get()`", strict)
        body = f"CASE WHEN i IS NULL OR a IS NULL THEN NULL WHEN i < 0 OR i >= n THEN {out} ELSE a[i + 1] END"
    element = duck(
        "list_transform([{{'a': {a}, 'i': CAST({i} AS BIGINT)}}], lambda p: list_transform([p.a], lambda a: "
        "list_transform([p.i], lambda i: list_transform([len(a)], lambda n: " + body + ")[1])[1])[1])[1]",
        a=node.this,
        i=key,
    )
    result = type_of(node)  # the element's type, also where DuckDB would type a NULL index's answer as NULL
    return exp.Cast(this=element, to=result.copy()) if result is not None and result.this != T.NULL else element


def _out_of_bounds(error_class: str, tolerant: str, strict: bool) -> str:
    """DuckDB SQL for an index `i` past an array of `n` elements: Databricks' error, or NULL when not `strict`."""
    if not strict:
        return "NULL"
    message = _concat(
        "The index ", exp.cast(exp.column("i"), "VARCHAR"), " is out of bounds. The array has ",
        exp.cast(exp.column("n"), "VARCHAR"),
        f" elements. Use {tolerant} to tolerate accessing element at invalid index and return NULL instead.",
    )  # fmt: skip
    return _error(error_class, message, "22003").sql("duckdb")


def _concat(*parts: str | exp.Expr) -> exp.Expr:
    """The text of `parts` (strings as literals) joined with ||."""
    nodes = [exp.Literal.string(p) if isinstance(p, str) else p for p in parts]
    joined = nodes[0]
    for node in nodes[1:]:
        joined = exp.DPipe(this=joined, expression=node)
    return joined


# --- dates --------------------------------------------------------------------------------------------------------


def _lower_parse_datetime(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """to_date / to_timestamp with a pattern that names no year read the year as 1970 (DuckDB: 1900); a year
    pattern other than `yyyy` is refused."""
    if _datetime_pattern(node):
        raise refused("a datetime pattern whose year is not `yyyy`")
    fmt = node.args.get("format")
    if not isinstance(fmt, exp.Literal):
        return node
    if re.search(r"%[YyGC]", fmt.name):
        return node
    node = node.copy()
    node.set("this", exp.DPipe(this=exp.Literal.string("1970 "), expression=node.this))
    node.set("format", exp.Literal.string("%Y " + fmt.name))
    return node


def _lower_make_timestamp(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    raise refused("make_timestamp (a TIMESTAMP in the session time zone, with Spark's second-field rules)")


def _lower_typeof(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """typeof(x): Spark's name of x's type where it is known, else DuckDB's type of x named as Databricks names it."""
    known = types[0]
    if known is not None and _named_as_spark_names_it(known):
        return exp.Literal.string(known.sql("databricks").lower().replace(" ", ""))
    return functions.rewrite(node)


_PLAIN = {T.INT, T.BIGINT, T.SMALLINT, T.TINYINT, T.BOOLEAN, T.DOUBLE, T.FLOAT, T.DATE, T.BINARY, T.DECIMAL}


def _named_as_spark_names_it(t: exp.DataType) -> bool:
    """Whether sqlglot writes `t` as Spark's typeof() names it (VARCHAR(n), timestamps and others are left to DuckDB)."""
    if t.this == T.ARRAY:
        return (
            len(t.expressions) == 1
            and isinstance(t.expressions[0], exp.DataType)
            and (_named_as_spark_names_it(t.expressions[0]))
        )
    return t.this in _PLAIN or (t.this == T.TEXT and t.sql("databricks") == "STRING")


def _negated_literal(node: exp.Expr) -> exp.Expr:
    """-2147483648 is an INT in Spark (DuckDB reads -(2147483648), a BIGINT); -0.8 a DECIMAL(1,1)."""
    t = type_of(node)
    if isinstance(node.this, exp.Literal) and t is not None and t.this in INTEGRAL:
        return exp.cast(node, INTEGRAL[t.this])
    if isinstance(node.this, exp.Literal) and t is not None and t.this == T.DECIMAL and _is_column(node):
        return exp.Cast(this=node, to=t.copy())  # -0.8 is DECIMAL(1,1)
    return node


def _boolean_aggregate(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """bool_and / bool_or take BOOLEANs only (UNEXPECTED_INPUT_TYPE)."""
    t = types[0] if types else None
    if t is not None and t.this not in (T.BOOLEAN, T.NULL):
        raise _mismatch(
            node,
            f'the first parameter requires the "BOOLEAN" type, however {node.this.sql("databricks")} has the type '
            f"{_sql_type(t)}",
            "DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE",
        )
    return exp.DataType.build("BOOLEAN")


def _pad_returns(node: exp.Expr, types: Sequence[Type], settings: Settings) -> Type:
    """lpad / rpad: BINARY of a BINARY padded with a BINARY (or X'00'), else Spark's STRING."""
    binary = [t is not None and t.this in (T.BINARY, T.VARBINARY) for t in [*types[:1], *types[2:3]]]
    return exp.DataType.build("BINARY") if all(binary) else None


def _lower_pad(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """A BINARY padded byte-wise (through its hex text: two digits a byte); truncated to the length from the left,
    unchanged by an empty pad where it is long enough; else the string rewrite."""
    result = type_of(node)
    if result is None or result.this != T.BINARY:
        return functions.rewrite(node)
    fill = node.args.get("fill_pattern") or exp.Anonymous(this="unhex", expressions=[exp.Literal.string("00")])
    side = "lpad" if node.args.get("is_left") else "rpad"
    return duck(
        "unhex(CASE WHEN hex({p}) = '' THEN left(hex({b}), 2 * greatest({n}, 0)) "
        f"ELSE {side}(hex({{b}}), 2 * greatest({{n}}, 0), hex({{p}})) END)",
        b=node.this,
        n=node.expression,
        p=fill,
    )


def _lower_unhex(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """unhex(s): NULL where s is not hex digits (DuckDB raises); an odd count is read with a leading 0."""
    return duck("CASE WHEN regexp_full_match({s}, '[0-9a-fA-F]*') THEN unhex({s}) END", s=node.this)


def _lower_mode(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """mode(x[, deterministic]): the most frequent non-NULL value; among several equally frequent, with
    deterministic the smallest, else Spark's pick depends on its hash order: refused when met."""
    value, flag = node.this, node.args.get("deterministic")
    if isinstance(value, exp.Distinct):
        raise LocalSQLError("INVALID_WITHIN_GROUP_EXPRESSION.DISTINCT_UNSUPPORTED",
                            "The function mode does not support DISTINCT.", "42K0K")  # fmt: skip
    if value is None or isinstance(node.parent, exp.Window):
        raise refused("mode() WITHIN GROUP or over a window")
    if flag is not None and not isinstance(flag, exp.Boolean):
        raise _mismatch(
            node, "the deterministic argument must be a BOOLEAN literal", "DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE"
        )
    t = types[0] if types else None
    if t is None or t.this in (T.MAP, T.ARRAY, T.STRUCT, T.FLOAT, T.DOUBLE):
        raise refused("mode of a value whose type is not known or not plain (Spark's equality of floats, maps..)")
    tie = (
        "list_min(ks)"
        if flag is not None and flag.this
        else _unsupported_at_run("mode with several most frequent values").sql("duckdb")
    )
    return duck(
        "list_transform([map_entries(histogram({x}))], lambda es: list_transform([list_max(list_transform(es, "
        "lambda e: e.value))], lambda m: list_transform([list_transform(list_filter(es, lambda e: e.value = m), "
        f"lambda e: e.key)], lambda ks: CASE WHEN len(ks) = 0 THEN NULL WHEN len(ks) > 1 THEN {tie} ELSE ks[1] END)"
        "[1])[1])[1]",
        x=value,
    )


RULES: dict[type[exp.Expr], Rule] = {
    exp.Typeof: Rule(_fixed("STRING"), _lower_typeof),
    exp.Cast: Rule(_cast_returns, _lower_cast),
    exp.TryCast: Rule(_cast_returns, _lower_cast),
    exp.IntDiv: Rule(_fixed("BIGINT"), _lower_int_div),
    exp.Add: Rule(_arithmetic_returns, _lower_arithmetic),
    exp.Sub: Rule(_arithmetic_returns, _lower_arithmetic),
    exp.Mul: Rule(_arithmetic_returns, _lower_arithmetic),
    exp.Div: Rule(_arithmetic_returns, _lower_arithmetic),
    exp.Mod: Rule(_arithmetic_returns, _lower_arithmetic),
    **{
        kind: Rule(_comparison_returns, _lower_comparison)
        for kind in (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ)
    },
    exp.In: Rule(_in_returns, _lower_in),
    exp.RegrCount: _returning("BIGINT"),
    exp.LogicalAnd: Rule(_boolean_aggregate, lambda node, types, settings: functions.rewrite(node)),
    exp.LogicalOr: Rule(_boolean_aggregate, lambda node, types, settings: functions.rewrite(node)),
    exp.Randstr: _refusing("randstr (Spark's generator: another sequence)"),
    exp.Sum: Rule(_sum_returns, _lower_sum),
    exp.TsOrDsAdd: Rule(_date_add_returns, _lower_date_add),
    exp.RegexpExtract: Rule(_regexp_group_returns, lambda node, types, settings: functions.rewrite(node)),
    exp.RegexpReplace: Rule(_regexp_replace_returns, _lower_regexp_replace),
    exp.Literal: Rule(lambda node, types, settings: literal_type(node), _lower_literal),
    exp.ToNumber: _refusing("to_number (Spark's result is a DECIMAL of the pattern's digits)"),
    exp.ArrayToString: Rule(_fixed("STRING"), _lower_array_join),
    exp.Decode: _refusing("decode from a charset other than UTF-8", _charset),
    exp.GroupConcat: Rule(_fixed("STRING"), _lower_listagg),
    exp.Avg: Rule(_avg_returns, _lower_avg),
    exp.TimestampAdd: Rule(_fixed("TIMESTAMP"), _lower_timestamp_add),
    exp.ArraySort: Rule(_same, _lower_sort_array),
    exp.ArrayInsert: Rule(_same, _lower_array_insert),
    exp.Case: Rule(_branches_returns, _lower_branches),
    exp.StrPosition: Rule(_fixed("INT"), _lower_locate),
    exp.Extract: Rule(_extract_returns, _lower_extract),
    exp.Window: Rule(lambda node, types, settings: type_of(node.this), _lower_window),
    **{kind: Rule(_fixed("INT"), lambda node, types, settings: node) for kind in _RANKS},
    **{
        kind: _returning("INT")
        for kind in (
            exp.DayOfWeek,
            exp.DayOfYear,
            exp.Year,
            exp.Month,
            exp.Day,
            exp.DayOfMonth,
            exp.Quarter,
            exp.WeekOfYear,
            exp.Hour,
            exp.Minute,
            exp.Second,
            exp.Length,
            exp.ArraySize,
            exp.RegexpCount,
            exp.RegexpInstr,
            exp.BitLength,
            exp.Ascii,
            exp.Levenshtein,
            exp.UnixDate,
            exp.BitwiseCount,
        )
    },  # fmt: skip
    exp.Grouping: _returning("TINYINT"),
    exp.DateFromUnixDate: _returning("DATE"),
    exp.UnixMillis: Rule(_fixed("BIGINT"), _lower_unix_millis),
    exp.Ceil: Rule(_ceil_returns, _lower_ceil),
    exp.Floor: Rule(_ceil_returns, _lower_ceil),
    exp.SafeDivide: Rule(_arithmetic_returns, _lower_safe_divide),
    exp.Pad: Rule(_pad_returns, _lower_pad),
    exp.Mode: Rule(lambda node, types, settings: types[0] if types else None, _lower_mode),
    exp.Unhex: Rule(_fixed("BINARY"), _lower_unhex),
    **{tried: Rule(_arithmetic_returns, _lower_try_arithmetic) for tried in _TRIED},
    exp.RegexpExtractAll: Rule(_fixed("ARRAY<STRING>"), _lower_extract_all),
    exp.SplitPart: Rule(_fixed("STRING"), _lower_split_part),
    exp.WithinGroup: Rule(_fixed("DOUBLE"), _lower_within_group),
    exp.Transform: Rule(lambda node, types, settings: None, _lower_index_lambda),
    exp.ArrayFilter: Rule(lambda node, types, settings: None, _lower_index_lambda),
    exp.BitwiseLeftShift: Rule(lambda node, types, settings: None, _lower_shift),
    exp.BitwiseRightShift: Rule(lambda node, types, settings: None, _lower_shift),
    exp.DPipe: Rule(_fixed("STRING"), _lower_concat_pipes),
    exp.Rand: _refusing("rand(seed) (Spark's generator: another sequence)", lambda node: node.this is not None),
    exp.Randn: _refusing("randn(seed) (Spark's generator: another sequence)", lambda node: node.this is not None),
    exp.Uniform: _refusing("uniform (Spark's generator and result types)"),
    exp.Skewness: _refusing("skewness (Spark's is the population skewness)"),
    **{
        kind: _refusing(f"{kind.__name__.lower()} (Spark sums in another order: the last digits differ)")
        for kind in (exp.Corr, exp.RegrR2, exp.RegrSlope, exp.RegrIntercept, exp.RegrSxx, exp.RegrSyy, exp.RegrSxy)
    },
    exp.Kurtosis: _refusing("kurtosis (Spark's is the population excess kurtosis)"),
    exp.ArgMin: _refusing("min_by(x, y, n)", lambda node: node.args.get("count") is not None),
    exp.ArgMax: _refusing("max_by(x, y, n)", lambda node: node.args.get("count") is not None),
    exp.Encode: _refusing("encode to a charset other than UTF-8", _charset),
    exp.ConvertTimezone: _refusing(
        "convert_timezone(target, ts) (from the session time zone)", lambda node: node.args.get("source_tz") is None
    ),
    exp.Count: _refusing("count(t.*)", lambda node: _count_arguments(node)),
    exp.If: Rule(_branches_returns, _lower_branches),
    exp.Coalesce: Rule(_branches_returns, _lower_branches),
    exp.Substring: Rule(_fixed("STRING"), _lower_substring),
    exp.RegexpSplit: Rule(_fixed("ARRAY<STRING>"), _lower_split),
    exp.ToBinary: Rule(_fixed("BINARY"), _lower_to_binary),
    exp.Bracket: Rule(_bracket_returns, _lower_bracket),
    exp.TsOrDsToDate: Rule(_fixed("DATE"), _lower_parse_datetime),
    exp.StrToDate: Rule(_fixed("DATE"), _lower_parse_datetime),
    exp.StrToTime: Rule(_fixed("TIMESTAMP"), _lower_parse_datetime),
    exp.TimestampFromParts: Rule(_fixed("TIMESTAMP"), _lower_make_timestamp),
    exp.Alias: Rule(_same, lambda node, types, settings: node),
    exp.Paren: Rule(_same, lambda node, types, settings: node),
    exp.Neg: Rule(_same, lambda node, types, settings: _negated_literal(node)),
}


_EPOCH_UNITS = {"timestamp_seconds": 1_000_000, "timestamp_millis": 1_000, "timestamp_micros": 1}


def _lower_epoch_timestamp(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """timestamp_seconds / _millis / _micros(n): the instant n units after the epoch, exactly (an integer, or for
    seconds a DECIMAL of at most 6 fractional digits; a BIGINT overflow of microseconds is an error)."""
    name = node.name.lower()
    t = types[0] if types else None
    exact = t is not None and (t.this in INTEGRAL or t.this == T.NULL or (
        name == "timestamp_seconds" and t.this == T.DECIMAL and _decimal_digits(t)[1] <= 6))  # fmt: skip
    if len(node.expressions) != 1 or not exact or t is None:
        raise refused(f"{name} of a {_sql_type(t) if t is not None else 'value of unknown type'} (Spark's rounding)")
    micros = exp.Mul(this=exp.cast(node.expressions[0], "DECIMAL(38, 6)" if t.this == T.DECIMAL else "BIGINT"),
                     expression=exp.Literal.number(_EPOCH_UNITS[name]))  # fmt: skip
    instant = duck("timezone('UTC', make_timestamp(CAST({m} AS BIGINT)))", m=micros)
    return exp.Cast(this=instant, to=exp.DataType.build("TIMESTAMPTZ"))


def _lower_to_timestamp_ntz(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """to_timestamp_ntz(x) of a DATE or TIMESTAMP: CAST(x AS TIMESTAMP_NTZ) (of a string, or with a format:
    refused, Spark's parser reads forms DuckDB's does not)."""
    t = types[0] if types else None
    if len(node.expressions) != 1 or t is None or t.this not in _DATETIMES | {T.NULL}:
        raise refused("to_timestamp_ntz of a string or with a format")
    cast = exp.Cast(this=node.expressions[0], to=exp.DataType.build("TIMESTAMP_NTZ", dialect="databricks"))
    return _lower_cast(cast, types[:1], settings)


_MASK_DEFAULTS = ("X", "x", "n", None)  # upperChar, lowerChar, digitChar, otherChar
_MASK_ARGUMENTS = ("upperChar", "lowerChar", "digitChar", "otherChar")


def _ascii_only(value: exp.Expr, answer: exp.Expr, name: str) -> exp.Expr:
    """`answer` where the text `value` is ASCII; beyond it, refused when met (Java's character classes, which
    Spark's `name` uses, are Unicode's)."""
    beyond = exp.Anonymous(this="regexp_matches", expressions=[value.copy(), exp.Literal.string("[^\\x00-\\x7F]")])
    return exp.Case(ifs=[exp.If(this=beyond, true=_unsupported_at_run(f"{name} of characters beyond ASCII"))],
                    default=answer)  # fmt: skip


def _lower_mask(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """mask(s[, upper, lower, digit, other]): each ASCII capital, small letter and digit (and with `other`, any
    other character) replaced; a NULL replacement keeps those characters. Characters beyond ASCII are refused when
    met (Java's letter classes are Unicode's)."""
    value, given = node.expressions[0] if node.expressions else None, node.expressions[1:]
    if value is None or len(given) > 4 or (types[0] is not None and types[0].this not in _STRINGS | {T.NULL}):
        raise refused("mask of these arguments")
    chars: list[exp.Expr] = []
    for i, default in enumerate(_MASK_DEFAULTS):
        argument = given[i] if i < len(given) else (exp.Literal.string(default) if default else exp.null())
        if _is_null(argument) or isinstance(argument, exp.Null):
            chars.append(exp.null())
            continue
        if not (isinstance(argument, exp.Literal) and argument.is_string):
            raise refused("mask with a replacement that is not a string literal")
        if len(argument.name) != 1:
            raise _mismatch(
                node, f"{_MASK_ARGUMENTS[i]} must be a single character", "DATATYPE_MISMATCH.INPUT_SIZE_NOT_ONE"
            )
        chars.append(argument)
    upper, lower, digit, other = chars
    masked = duck(
        "array_to_string(list_transform(string_split({s}, ''), lambda c: CASE WHEN c BETWEEN 'A' AND 'Z' THEN "
        "coalesce({u}, c) WHEN c BETWEEN 'a' AND 'z' THEN coalesce({l}, c) WHEN c BETWEEN '0' AND '9' THEN "
        "coalesce({d}, c) ELSE coalesce({o}, c) END), '')",
        s=value, u=upper, l=lower, d=digit, o=other,
    )  # fmt: skip
    return _ascii_only(value, masked, "mask")


def _lower_luhn_check(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    """luhn_check(s): whether s is a non-empty string of ASCII digits passing the Luhn checksum (other digits than
    ASCII's, which Java counts, are refused when met)."""
    t = types[0] if types else None
    if len(node.expressions) != 1 or t is None or t.this not in _STRINGS | set(INTEGRAL) | {T.NULL}:
        raise refused("luhn_check of this argument")
    value = exp.Cast(this=node.expressions[0], to=exp.DataType.build("VARCHAR"))
    checked = duck(
        "CASE WHEN NOT regexp_full_match({s}, '[0-9]+') THEN false ELSE list_sum(list_transform("
        "list_reverse(string_split({s}, '')), lambda d, i: CASE WHEN i % 2 = 0 THEN CAST(d AS INT) * 2 - "
        "CASE WHEN CAST(d AS INT) > 4 THEN 9 ELSE 0 END ELSE CAST(d AS INT) END)) % 10 = 0 END",
        s=value,
    )  # fmt: skip
    return _ascii_only(value, checked, "luhn_check")


NAMED: dict[str, Rule] = {  # functions sqlglot leaves as exp.Anonymous, by name
    "luhn_check": Rule(_fixed("BOOLEAN"), _lower_luhn_check),
    "mask": Rule(_fixed("STRING"), _lower_mask),
    "to_timestamp_ntz": Rule(_fixed("TIMESTAMP_NTZ"), _lower_to_timestamp_ntz),
    **{name: Rule(_fixed("TIMESTAMP"), _lower_epoch_timestamp) for name in _EPOCH_UNITS},
    "weekday": _returning("INT"),
    "json_array_length": Rule(_fixed("INT"), _lower_json_array_length),
    "octet_length": _returning("INT"),
    "cardinality": _returning("INT"),
    "url_encode": Rule(_fixed("STRING"), _lower_url_encode),
    "pmod": Rule(_arithmetic_returns, _lower_pmod),
    "time_bucket": _refusing("time_bucket (Spark's buckets start at its own origin)"),
}


def rule_of(node: exp.Expr) -> Rule | None:
    """The rule for `node`'s operator or function, if it has one."""
    if isinstance(node, exp.Anonymous):
        return NAMED.get(node.name.lower())
    return RULES.get(type(node))


def _arguments(node: exp.Expr) -> list[exp.Expr]:
    """The operands a rule's types are given for, in order."""
    if isinstance(node, exp.AggFunc) and isinstance(node.this, exp.Distinct) and len(node.this.expressions) == 1:
        return [node.this.expressions[0]]  # sum(DISTINCT x) is typed by x
    if isinstance(node, exp.Bracket):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Binary):
        return [node.this, node.expression]
    if isinstance(node, (exp.Case, exp.If, exp.Coalesce)):
        return _branches(node)
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    if isinstance(node, exp.In):
        return [node.this, *node.expressions] if not node.args.get("query") else [node.this]
    if isinstance(node, exp.Pad):
        return [a for a in (node.this, node.expression, node.args.get("fill_pattern")) if a is not None]
    if isinstance(node, (exp.Extract, exp.SafeDivide, exp.SafeAdd, exp.SafeSubtract, exp.SafeMultiply, exp.TsOrDsAdd)):
        return [node.this, node.expression]
    return [node.this] if isinstance(node.this, exp.Expr) else []


_UNKNOWN = "unknown"


def annotate(tree: exp.Expr, column_type: Callable[[exp.Column], str | None], settings: Settings = Settings()) -> None:
    """Give each node of `tree` its Spark type (in its meta; columns typed by `column_type`, a Databricks type name
    or None), operands first. Run before the tree's tables are replaced by what DuckDB reads."""
    for node in reversed(list(tree.walk(bfs=False))):
        found = _type_of(node, column_type, settings)
        node.meta["spark_type"] = found if found is not None else _UNKNOWN
        node.meta["databricks"] = True  # still Databricks SQL: lowered by its rule


def keeping_types(step: Callable[[exp.Expr], exp.Expr]) -> Callable[[exp.Expr], exp.Expr]:
    """A tree transform `step` whose replacements keep the Spark type of what they replace (they are DuckDB's
    already, so no rule lowers them again)."""

    def kept(node: exp.Expr) -> exp.Expr:
        new = step(node)
        if new is not node and "spark_type" in node.meta:
            new.meta["spark_type"] = node.meta["spark_type"]
        return new

    return kept


def type_of(node: exp.Expr) -> Type:
    """The Spark type `annotate` gave `node` (None: not known, or added since)."""
    found = node.meta.get("spark_type")
    return found if isinstance(found, exp.DataType) else None


# --- query shapes ------------------------------------------------------------------------------------------------


def _shape_refusal(select: exp.Select, settings: Settings) -> str | None:
    """What of a SELECT's shape Spark reads otherwise than DuckDB, or None."""
    group = select.args.get("group")
    if group is not None:
        sets = [*group.args.get("grouping_sets", []), *group.args.get("cube", []), *group.args.get("rollup", [])]
        if sets and group.expressions:
            return "GROUP BY a, b GROUPING SETS (...) (write GROUP BY GROUPING SETS (...))"
        grouped = [*sets, *(e for e in group.expressions if isinstance(e, (exp.GroupingSets, exp.Cube, exp.Rollup)))]
        items = [
            i for g in grouped for e in g.expressions for i in (e.expressions if isinstance(e, exp.Tuple) else [e])
        ]
        if any(isinstance(_unwrapped(i), exp.Literal) for i in items):
            return "an ordinal inside GROUPING SETS, CUBE or ROLLUP"
    generators = [e for e in select.expressions if e.find(*_GENERATORS)]
    if (shape := _generator_refusal(select, generators)) is not None:
        return shape
    if (shape := _window_order_refusal(select)) is not None:
        return shape
    if (shape := _joined_order_refusal(select)) is not None:
        return shape
    _group_by_all_constants(select)
    if (
        select.args.get("having") is not None
        and group is None
        and not any(e.find(exp.AggFunc) for e in select.expressions)
    ):
        return "HAVING without GROUP BY over a SELECT list without aggregates"
    grouped_by_sets = group is not None and (
        any(group.args.get(k) for k in ("grouping_sets", "cube", "rollup"))
        or any(isinstance(e, (exp.GroupingSets, exp.Cube, exp.Rollup)) for e in group.expressions)
    )
    if not grouped_by_sets and select.find(exp.Grouping, exp.GroupingId):
        raise LocalSQLError(
            "UNSUPPORTED_GROUPING_EXPRESSION", "grouping()/grouping_id() can only be used with GroupingSets/Cube/Rollup.",
            "42K0E",
        )  # fmt: skip
    _check_ordinals(select)
    _check_ambiguous_aliases(select)
    for ordered in select.args["order"].expressions if select.args.get("order") else []:
        if isinstance(ordered.this, exp.Cast) and ordered.this.to.this == T.VARIANT:
            raise LocalSQLError(
                "DATATYPE_MISMATCH.INVALID_ORDERING_TYPE",
                f'Cannot resolve "{ordered.this.sql("databricks")}": the ORDER BY of a VARIANT is not supported.',
                "42K09",
            )
    return _nested_cte_refusal(select, settings)


_GENERATORS = (exp.Explode, exp.Posexplode, exp.Inline)


def _generator_refusal(select: exp.Select, generators: list[exp.Expr]) -> str | None:
    """A generator nested in an expression, or outside the SELECT list, is Spark's error; several, one beside a
    window function or GROUP BY, or one whose SELECT list refers to its own aliases, Spark resolves otherwise than
    DuckDB (refused)."""
    for key in ("where", "group", "having", "order"):
        clause = select.args.get(key)
        if clause is not None and clause.find(*_GENERATORS):
            raise LocalSQLError(
                "UNSUPPORTED_GENERATOR.OUTSIDE_SELECT",
                f"The generator is not supported: outside the SELECT clause, found: {key.upper()}.",
                "42K0E",
            )
    for item in generators:
        node = item
        while isinstance(node, (exp.Alias, exp.Aliases, exp.Paren)):
            node = node.this
        if not isinstance(node, _GENERATORS):
            raise LocalSQLError(
                "UNSUPPORTED_GENERATOR.NESTED_IN_EXPRESSIONS",
                f'The generator is not supported: nested in expressions "{node.sql("databricks")}".',
                "42K0E",
            )
    if len(generators) > 1:
        return "several generators (explode, posexplode, inline) in one SELECT"
    if any(isinstance(g, exp.Aliases) and isinstance(g.this, exp.Posexplode) for g in generators):
        return "posexplode(...) AS (pos, value) (its position would be a BIGINT, and an outer one drops empty rows)"
    if generators and select.find(exp.Window):
        return "a generator (explode, posexplode, inline) beside a window function"
    if generators and select.args.get("group") is not None:
        return "a generator (explode, posexplode, inline) in a grouped SELECT"
    aliases = {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias) and e.alias}
    written = [e.this if isinstance(e, exp.Alias) else e for e in select.expressions]  # named before lowering
    if generators and any(c.name.lower() in aliases and not c.table for e in written for c in e.find_all(exp.Column)):
        return "a generator in a SELECT list that refers to its own aliases"
    return None


def _group_by_all_constants(select: exp.Select) -> None:
    """GROUP BY ALL over a SELECT list with no column outside an aggregate groups by nothing: one row (DuckDB
    would group by the constants, a row per input row)."""
    group = select.args.get("group")
    if group is None or not group.args.get("all"):
        return
    written = [e.this if isinstance(e, exp.Alias) else e for e in select.expressions]
    if any(c.find_ancestor(exp.AggFunc) is None for e in written for c in e.find_all(exp.Column, exp.Star)):
        return
    select.set("group", exp.Group(expressions=[exp.Tuple()]))


def _joined_order_refusal(select: exp.Select) -> str | None:
    """A grouped SELECT over a NATURAL or USING join with HAVING, ordered by more than its grouping columns: Spark
    sorts above the filter, where it cannot resolve those (DuckDB sorts by any grouped expression)."""
    joined = any(j.args.get("method") == "NATURAL" or j.args.get("using") for j in select.args.get("joins") or [])
    group, order = select.args.get("group"), select.args.get("order")
    if not joined or group is None or select.args.get("having") is None or order is None:
        return None
    grouping = {e.sql("databricks").lower() for e in group.expressions if isinstance(e, exp.Column)}
    if all(isinstance(o.this, exp.Column) and o.this.sql("databricks").lower() in grouping for o in order.expressions):
        return None
    return "ORDER BY other than grouping columns above HAVING, in a grouped SELECT over a NATURAL or USING join"


def _window_order_refusal(select: exp.Select) -> str | None:
    """A grouped SELECT with window functions, ordered by more than its own output columns: Spark sorts above the
    window, where only the output can be resolved (DuckDB sorts by any grouped expression)."""
    order = select.args.get("order")
    grouped = select.args.get("group") is not None or any(
        e.find(exp.AggFunc) for e in select.expressions if not e.find(exp.Window)
    )
    if order is None or not grouped or not any(e.find(exp.Window) for e in select.expressions):
        return None
    output = {e.alias_or_name.lower() for e in select.expressions}
    for ordered in order.expressions:
        key = _unwrapped(ordered.this)
        if isinstance(key, exp.Literal) or (isinstance(key, exp.Column) and key.name.lower() in output):
            continue
        return "ORDER BY an expression other than an output column in a grouped SELECT with window functions"
    return None


def _check_ambiguous_aliases(select: exp.Select) -> None:
    """Two columns named alike, one of them referred to by that name in GROUP BY, HAVING or ORDER BY (an alias and
    a column of that name: refused, Spark prefers one by rules of its own)."""
    names = [e.alias for e in select.expressions if isinstance(e, exp.Alias)]
    columns = {e.name.lower() for e in select.expressions if isinstance(e, exp.Column)}
    for key in ("group", "having", "order"):
        clause = select.args.get(key)
        for column in clause.find_all(exp.Column) if clause is not None else []:
            if (
                not column.table
                and column.name.lower() in columns
                and column.name.lower() in {n.lower() for n in names}
            ):
                raise refused(f"{key.upper()} by `{column.name}`, the name of a column and of another output's alias")
    repeated = {n.lower() for n in names if names.count(n) > 1 or [m.lower() for m in names].count(n.lower()) > 1}
    if not repeated:
        return
    for key in ("group", "having", "order"):
        clause = select.args.get(key)
        for column in clause.find_all(exp.Column) if clause is not None else []:
            if not column.table and column.name.lower() in repeated:
                raise LocalSQLError(
                    "AMBIGUOUS_REFERENCE",
                    f"Reference `{column.name}` is ambiguous, could be: [`{column.name}`, `{column.name}`].",
                    "42704",
                )


def _nested_cte_refusal(select: exp.Select, settings: Settings) -> str | None:
    """A WITH inside a CTE or subquery that names a CTE of an enclosing WITH again: the inner one is meant (as in
    DuckDB) unless spark.sql.legacy.ctePrecedencePolicy says otherwise (LEGACY: the outer; EXCEPTION: an error).
    UNION (not UNION ALL) in a recursive CTE is an error."""
    with_ = select.args.get("with_")
    if with_ is None:
        return None
    if with_.args.get("recursive"):
        for cte in with_.expressions:
            if isinstance(cte.this, exp.Union) and cte.this.args.get("distinct"):
                raise LocalSQLError(
                    "UNION_NOT_SUPPORTED_IN_RECURSIVE_CTE",
                    "The UNION operator is not yet supported within recursive common table expressions (WITH "
                    "clauses that refer to themselves, directly or indirectly). Please use UNION ALL instead.",
                    "42836",
                )
    inner = {cte.alias_or_name.lower() for cte in with_.expressions}
    ancestor = select.parent
    while ancestor is not None:
        outer = ancestor.args.get("with_") if isinstance(ancestor, exp.Query) else None
        shadowed = inner & {c.alias_or_name.lower() for c in outer.expressions} if outer is not None else set()
        if outer is not with_ and shadowed and settings.cte_precedence == "exception":
            raise LocalSQLError(
                "AMBIGUOUS_ALIAS_IN_NESTED_CTE",
                f"Name {sorted(shadowed)[0]} is ambiguous in nested CTE. Please set "
                "spark.sql.legacy.ctePrecedencePolicy to CORRECTED so that name defined in inner CTE takes "
                "precedence.",
                "42KD0",
            )
        if outer is not with_ and shadowed and settings.cte_precedence == "legacy":
            return "a nested WITH naming a CTE of an enclosing WITH again, under the LEGACY CTE precedence policy"
        ancestor = ancestor.parent
    return None


def _check_ordinals(select: exp.Select) -> None:
    """ORDER BY k names the k-th column: 0, a negative k or one past the last column is ORDER_BY_POS_OUT_OF_RANGE
    (DuckDB would sort by the constant)."""
    order = select.args.get("order")
    width = None if any(e.is_star for e in select.expressions) else len(select.expressions)
    for ordered in order.expressions if order is not None else []:
        k = _integer_literal(ordered.this)
        if k is not None and (k < 1 or (width is not None and k > width)):
            raise LocalSQLError(
                "ORDER_BY_POS_OUT_OF_RANGE",
                f"ORDER BY position {k} is not in select list (valid range is [1, {width or '...'}]).",
                "42805",
            )


def _widen_set_operation(node: exp.SetOperation, settings: Settings) -> None:
    """UNION / INTERSECT / EXCEPT columns take the wider type of both sides (INCOMPATIBLE_COLUMN_TYPE where
    there is none); a side is cast where its type is not that one."""
    left, right = node.this, node.expression
    if not (isinstance(left, exp.Select) and isinstance(right, exp.Select)):
        return
    if len(left.expressions) != len(right.expressions) or any(e.is_star for e in left.expressions + right.expressions):
        return
    for i, (a, b) in enumerate(zip(left.expressions, right.expressions, strict=True)):
        ta, tb = type_of(a), type_of(b)
        if ta is None or tb is None:
            continue
        common = _common(ta, tb)
        if common is None:
            if _comparable_by_spark(ta, tb) is None:
                continue
            raise LocalSQLError(
                "INCOMPATIBLE_COLUMN_TYPE",
                f"{node.key.upper()} can only be performed on inputs with compatible column types. The {_ordinal(i)} "
                f"column of the second table is {_sql_type(tb)} type which is not compatible with {_sql_type(ta)} at "
                "the same column of the first table.",
                "42825",
            )
        for side, t in ((a, ta), (b, tb)):
            if t != common and t.this != T.NULL:
                value = side.this if isinstance(side, exp.Alias) else side
                cast = _as(value.copy(), t, common, settings)
                side.replace(exp.alias_(cast, side.alias_or_name, quoted=True) if side.alias_or_name else cast)


def _ordinal(i: int) -> str:
    return {0: "first", 1: "second", 2: "third"}.get(i, f"{i + 1}th")


def lower(tree: exp.Expr, settings: Settings = Settings()) -> exp.Expr:
    """Every node of an annotated `tree` that has a rule lowered onto DuckDB, operands before the operators that
    take them. The last step before DuckDB SQL: what it writes is DuckDB's, and nothing reads it as Databricks'."""
    for select in tree.find_all(exp.Select):  # the query's shape, as written
        if select.meta.get("databricks") and (shape := _shape_refusal(select, settings)) is not None:
            raise refused(shape)
    for node in reversed(list(tree.walk(bfs=False))):
        if not node.meta.get("databricks"):
            continue  # written for DuckDB by an earlier step
        if isinstance(node, exp.SetOperation):
            _widen_set_operation(node, settings)
        rule = rule_of(node)
        parent, key, index = node.parent, node.arg_key, node.index  # a lowering may take `node` in as an operand
        if rule is not None:
            new = rule.lower(node, [type_of(a) for a in _arguments(node)], settings)
        else:
            new = functions.rewrite(node)
        if new is not node:
            new.meta["spark_type"] = node.meta.get("spark_type", _UNKNOWN)  # what the operator above it reads
            if "digits" in node.meta:
                new.meta["digits"] = node.meta["digits"]  # an integer literal's own digits, in DECIMAL arithmetic
            if parent is None or key is None:
                tree = new
            else:
                parent.set(key, new, index)
    return tree


def _suffixed(node: exp.Expr) -> bool:
    """`5L`, `127Y`: an integer literal with a type suffix (sqlglot reads it as a CAST; its token is longer)."""
    literal = node.this if isinstance(node, exp.Cast) else None
    if not isinstance(literal, exp.Literal) or literal.is_string:
        return False
    return (typed_length(literal) or 0) > len(literal.name)


def _type_of(node: exp.Expr, column_type: Callable[[exp.Column], str | None], settings: Settings) -> Type:
    if _suffixed(node) and (digits := decimals.literal_type(node.this)) is not None:
        node.meta["digits"] = digits  # in DECIMAL arithmetic a literal needs only its own digits, suffix or not
    if isinstance(node, exp.Literal) or (isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)):
        if (digits := decimals.literal_type(node)) is not None:
            node.meta["digits"] = digits
        return literal_type(node)
    if isinstance(node, exp.Boolean):
        return exp.DataType.build("BOOLEAN")
    if isinstance(node, exp.Null):
        return exp.DataType(this=T.NULL)
    if isinstance(node, exp.Interval) and isinstance(node.args.get("unit"), exp.Var):
        return exp.DataType(this=T.INTERVAL, expressions=[exp.Var(this=node.args["unit"].name.upper())])
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        found = column_type(node)
        try:
            return exp.DataType.build(found, dialect="databricks") if found else None
        except Exception:  # noqa: BLE001 - a type sqlglot cannot read is not known
            return None
    if isinstance(node, exp.Array):
        typed = [type_of(e) for e in node.expressions]
        elements = {t.sql("databricks") for t in typed if t is not None and t.this != T.NULL}  # NULL fits any
        if len(elements) == 1 and all(typed):
            return exp.DataType.build(f"ARRAY<{elements.pop()}>", dialect="databricks")
        return exp.DataType.build("ARRAY") if node.expressions == [] else None
    if isinstance(node, (exp.Map, exp.VarMap)):
        return exp.DataType(this=T.MAP)
    rule = rule_of(node)
    if rule is None:
        return None
    return rule.returns(node, [type_of(a) for a in _arguments(node)], settings)
