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
from .errors import LocalSQLError
from .functions import duck, refused

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


@dataclass(frozen=True)
class Rule:
    """One operator or function as Spark computes it: `returns(node, argument types)` is its Spark type (None:
    unknown), `lower(node, argument types, settings)` the DuckDB expression computing Spark's answer."""

    returns: Callable[[exp.Expr, Sequence[Type]], Type]
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
        return exp.DataType.build("DOUBLE") if re.search(r"[eE]", literal.name) else None
    precision, scale = exact
    if scale == 0 and "." not in literal.name:
        value = -int(literal.name) if negated else int(literal.name)
        if -(2**31) <= value < 2**31:
            return exp.DataType.build("INT")
        if -(2**63) <= value < 2**63:
            return exp.DataType.build("BIGINT")
    return exp.DataType.build(f"DECIMAL({precision}, {scale})")


def _is(t: Type, *kinds: object) -> bool:
    return t is not None and t.this in kinds


def _same(node: exp.Expr, types: Sequence[Type]) -> Type:
    return types[0] if types else None


def _fixed(type_sql: str) -> Callable[[exp.Expr, Sequence[Type]], Type]:
    built = exp.DataType.build(type_sql, dialect="databricks")
    return lambda node, types: built


# --- casts --------------------------------------------------------------------------------------------------------


def _cast_returns(node: exp.Expr, types: Sequence[Type]) -> Type:
    assert isinstance(node, exp.Cast)
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
    if any(t is not None and t.this not in INTEGRAL for t in types):
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


def _sub_returns(node: exp.Expr, types: Sequence[Type]) -> Type:
    if all(_is(t, T.INT, T.BIGINT, T.SMALLINT, T.TINYINT) for t in types):
        return exp.DataType.build("BIGINT") if any(_is(t, T.BIGINT) for t in types) else types[0]
    return None


def _lower_sub(node: exp.Expr, types: Sequence[Type], settings: Settings) -> exp.Expr:
    if all(_is(t, T.DATE) for t in types):
        raise refused("date - date (an INTERVAL DAY; datediff(end, start) gives the days as an INT)")
    return node


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


def _bracket_returns(node: exp.Expr, types: Sequence[Type]) -> Type:
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
    return duck(
        "list_transform([{{'a': {a}, 'i': CAST({i} AS BIGINT)}}], lambda p: list_transform([p.a], lambda a: "
        "list_transform([p.i], lambda i: list_transform([len(a)], lambda n: " + body + ")[1])[1])[1])[1]",
        a=node.this,
        i=key,
    )


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
    """to_date / to_timestamp with a pattern that names no year read the year as 1970 (DuckDB: 1900)."""
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


RULES: dict[type[exp.Expr], Rule] = {
    exp.Typeof: Rule(_fixed("STRING"), _lower_typeof),
    exp.Cast: Rule(_cast_returns, _lower_cast),
    exp.TryCast: Rule(_cast_returns, _lower_cast),
    exp.IntDiv: Rule(_fixed("BIGINT"), _lower_int_div),
    exp.Sub: Rule(_sub_returns, _lower_sub),
    exp.Substring: Rule(_fixed("STRING"), _lower_substring),
    exp.RegexpSplit: Rule(_fixed("ARRAY<STRING>"), _lower_split),
    exp.ToBinary: Rule(_fixed("BINARY"), _lower_to_binary),
    exp.Bracket: Rule(_bracket_returns, _lower_bracket),
    exp.TsOrDsToDate: Rule(_fixed("DATE"), _lower_parse_datetime),
    exp.StrToDate: Rule(_fixed("DATE"), _lower_parse_datetime),
    exp.StrToTime: Rule(_fixed("TIMESTAMP"), _lower_parse_datetime),
    exp.TimestampFromParts: Rule(_fixed("TIMESTAMP"), _lower_make_timestamp),
    exp.Paren: Rule(_same, lambda node, types, settings: node),
    exp.Neg: Rule(_same, lambda node, types, settings: node),
}


def _arguments(node: exp.Expr) -> list[exp.Expr]:
    """The operands a rule's types are given for, in order."""
    if isinstance(node, exp.Bracket):
        return [node.this, *node.expressions]
    if isinstance(node, exp.Binary):
        return [node.this, node.expression]
    return [node.this] if isinstance(node.this, exp.Expr) else []


_UNKNOWN = "unknown"


def annotate(tree: exp.Expr, column_type: Callable[[exp.Column], str | None]) -> None:
    """Give each node of `tree` its Spark type (in its meta; columns typed by `column_type`, a Databricks type name
    or None), operands first. Run before the tree's tables are replaced by what DuckDB reads."""
    for node in reversed(list(tree.walk(bfs=False))):
        found = _type_of(node, column_type)
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


def lower(tree: exp.Expr, settings: Settings = Settings()) -> exp.Expr:
    """Every node of an annotated `tree` that has a rule lowered onto DuckDB, operands before the operators that
    take them. The last step before DuckDB SQL: what it writes is DuckDB's, and nothing reads it as Databricks'."""
    for node in reversed(list(tree.walk(bfs=False))):
        if not node.meta.get("databricks"):
            continue  # written for DuckDB by an earlier step
        rule = RULES.get(type(node))
        parent, key, index = node.parent, node.arg_key, node.index  # a lowering may take `node` in as an operand
        if rule is not None:
            new = rule.lower(node, [type_of(a) for a in _arguments(node)], settings)
        else:
            new = functions.rewrite(node)
        if new is not node:
            if parent is None or key is None:
                tree = new
            else:
                parent.set(key, new, index)
    return tree


def _type_of(node: exp.Expr, column_type: Callable[[exp.Column], str | None]) -> Type:
    if isinstance(node, exp.Literal) or (isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal)):
        return literal_type(node)
    if isinstance(node, exp.Boolean):
        return exp.DataType.build("BOOLEAN")
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        found = column_type(node)
        try:
            return exp.DataType.build(found, dialect="databricks") if found else None
        except Exception:  # noqa: BLE001 - a type sqlglot cannot read is not known
            return None
    if isinstance(node, exp.Array):
        elements = {t.sql("databricks") for e in node.expressions if (t := type_of(e)) is not None}
        if len(elements) == 1 and all(type_of(e) for e in node.expressions):
            return exp.DataType.build(f"ARRAY<{elements.pop()}>", dialect="databricks")
        return exp.DataType.build("ARRAY") if node.expressions == [] else None
    if isinstance(node, (exp.Map, exp.VarMap)):
        return exp.DataType(this=T.MAP)
    rule = RULES.get(type(node))
    if rule is None:
        return None
    return rule.returns(node, [type_of(a) for a in _arguments(node)])
