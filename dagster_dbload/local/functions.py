"""Built-in functions DuckDB answers differently from Databricks, as a table of untyped rewrites (in the manner of
sqlglot's Generator.TRANSFORMS) that semantics.py applies in its one lowering pass beside its typed rules: each
becomes DuckDB SQL that answers as Databricks does, or is refused with
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


def duck(sql: str, **nodes: exp.Expr) -> exp.Expr:
    """DuckDB SQL with {name} placeholders filled by the given nodes."""
    return parse_one(sql.format(**{k: v.sql("duckdb") for k, v in nodes.items()}), read="duckdb")


def _day_of_week(node: exp.DayOfWeek) -> exp.Expr:  # Sunday = 1 ... Saturday = 7
    return duck("(DAYOFWEEK(CAST({x} AS DATE)) + 1)", x=node.this)


def _weekday(node: exp.Anonymous) -> exp.Expr:  # Monday = 0 ... Sunday = 6
    return duck("(ISODOW(CAST({x} AS DATE)) - 1)", x=node.expressions[0])


def _typeof(node: exp.Typeof) -> exp.Expr:
    cases = " ".join(f"WHEN '{duck}' THEN '{name}'" for duck, name in _TYPE_NAMES.items())
    return duck(
        "CASE TYPEOF({x}) "
        + cases
        + " ELSE CASE WHEN regexp_full_match(TYPEOF({x}), 'DECIMAL\\(\\d+,\\d+\\)') THEN LOWER(TYPEOF({x})) "
        "ELSE ERROR('[UNSUPPORTED_FEATURE.FUNCTION] typeof of a ' || TYPEOF({x}) || ' value') END END",
        x=node.this,
    )


def _add_months(node: exp.AddMonths) -> exp.Expr:  # a DATE, not DuckDB's TIMESTAMP
    return exp.cast(node, exp.DataType.build("DATE"))


def _array_contains(node: exp.ArrayContains) -> exp.Expr:  # NULL when not found but the array holds a NULL
    return duck(
        "CASE WHEN {a} IS NULL OR {x} IS NULL THEN NULL WHEN LIST_CONTAINS({a}, {x}) THEN TRUE "
        "WHEN LEN(LIST_FILTER({a}, e -> e IS NULL)) > 0 THEN NULL ELSE FALSE END",
        a=node.this, x=node.expression,
    )  # fmt: skip


def _array_position(node: exp.ArrayPosition) -> exp.Expr:  # 1-based, 0 when absent, NULL for a NULL value
    return duck(
        "CASE WHEN {a} IS NULL OR {x} IS NULL THEN NULL ELSE COALESCE(LIST_POSITION({a}, {x}), 0) END",
        a=node.this, x=node.expression,
    )  # fmt: skip


def _array_remove(node: exp.ArrayRemove) -> exp.Expr:  # NULL elements stay; removing NULL gives NULL
    return duck(
        "CASE WHEN {x} IS NULL THEN NULL ELSE LIST_FILTER({a}, e -> e IS DISTINCT FROM {x}) END",
        a=node.this, x=node.expression,
    )  # fmt: skip


def _array_sort(node: exp.ArraySort) -> exp.Expr:
    if node.args.get("expression") is not None:
        raise refused("array_sort with a comparator")
    return node


def _regexp_replace(node: exp.RegexpReplace) -> exp.Expr:
    """Java's $1 back-references are DuckDB's \\1."""
    replacement = node.args.get("replacement")
    if not isinstance(replacement, exp.Literal):
        raise refused("regexp_replace with a replacement that is not a literal")
    if "$" in replacement.name or "\\" in replacement.name:
        node = node.copy()
        text = re.sub(r"\\(.)", r"\1", replacement.name)  # Java's escapes: \$ is a dollar sign
        node.set("replacement", exp.Literal.string(re.sub(r"\$(\d)", r"\\\1", text)))
    return node


def _sequence(node: exp.GenerateSeries) -> exp.Expr:
    """sequence(start, stop[, step]) of integers, counting down when stop < start; dates are refused."""
    start, stop, step = node.args["start"], node.args["end"], node.args.get("step")
    if any(isinstance(a, exp.Interval) or (isinstance(a, exp.Cast) and not a.to.is_type(*exp.DataType.INTEGER_TYPES))
           for a in (start, stop, step) if a is not None):  # fmt: skip
        raise refused("sequence of dates or timestamps")
    if step is None:
        return duck("CASE WHEN {s} <= {e} THEN RANGE({s}, {e} + 1) ELSE RANGE({s}, {e} - 1, -1) END", s=start, e=stop)
    return duck("RANGE({s}, {e} + SIGN({k}), {k})", s=start, e=stop, k=step)


def _date_diff(node: exp.DateDiff | exp.TimestampDiff) -> exp.Expr:
    """DAY and shorter units count as DuckDB does; longer ones count whole units on Databricks, boundaries in DuckDB."""
    unit = node.args.get("unit")
    if unit is not None and unit.name.upper() not in ("DAY", "HOUR", "MINUTE", "SECOND", "MILLISECOND", "MICROSECOND"):
        raise refused(f"date_diff/timestampdiff in {unit.name.upper()}S")
    return node


def _percentile(node: exp.Quantile) -> exp.Expr:
    """percentile(x, p): exact, interpolated between the two nearest values (DuckDB's QUANTILE is discrete)."""
    return exp.Anonymous(this="QUANTILE_CONT", expressions=[node.this, node.args["quantile"]])


def _percentile_approx(node: exp.ApproxQuantile) -> exp.Expr:
    """percentile_approx(x, p): the smallest value v with at least a fraction p of the values <= v, exactly
    (Databricks' answer for any input whose distinct values fit its accuracy; DuckDB's t-digest interpolates)."""
    p = node.args["quantile"]
    if isinstance(p, exp.Array) or not isinstance(p, exp.Literal):
        raise refused("percentile_approx with an array of percentages or a non-constant percentage")
    return duck(
        "LIST_SORT(LIST({x}) FILTER (WHERE {x} IS NOT NULL))[GREATEST(1, CAST(CEIL(COUNT({x}) * {p}) AS BIGINT))]",
        x=node.this, p=p,
    )  # fmt: skip


def _date_format(node: exp.TimeToStr) -> exp.Expr:
    """date_format with fractions of a second: `SSS` is milliseconds (DuckDB's %g); other runs of S are refused."""
    fmt = node.args.get("format")
    text = fmt.name if isinstance(fmt, exp.Literal) else None
    if text is None:
        raise refused("date_format with a pattern that is not a string literal")
    if text is not None:
        letters = re.sub(r"S+", "", re.sub(r"%-?.(strict)?", "", text))
        if text == "" or re.search(r"[A-Za-z]", letters):  # a Spark pattern letter sqlglot did not convert
            raise refused(f"date_format with the pattern {text!r} (letters it cannot read as Spark does)")
    if text is None or "S" not in re.sub(r"%.", "", text):
        return node
    converted = text.replace("SSSSSS", "%f").replace("SSS", "%g")
    if "S" in re.sub(r"%.", "", converted):
        raise refused(f"date_format with the pattern {text!r} (fractions other than SSS or SSSSSS)")
    node = node.copy()
    node.set("format", exp.Literal.string(converted))
    return node


def _pmod(node: exp.Anonymous) -> exp.Expr:  # the positive remainder (DuckDB's % keeps the dividend's sign)
    a, b = node.expressions
    return duck("CASE WHEN ({a}) % ({b}) < 0 THEN (({a}) % ({b}) + ({b})) % ({b}) ELSE ({a}) % ({b}) END", a=a, b=b)


def _bround(node: exp.Anonymous) -> exp.Expr:  # round half to even
    return exp.Anonymous(
        this="ROUND_EVEN", expressions=[node.expressions[0], *(node.expressions[1:] or [exp.Literal.number(0)])]
    )


def _nanvl(node: exp.Expr) -> exp.Expr:
    a, b = node.this, node.expression
    return duck("CASE WHEN ISNAN(CAST({a} AS DOUBLE)) THEN CAST({b} AS DOUBLE) ELSE CAST({a} AS DOUBLE) END", a=a, b=b)


def _substring_index(node: exp.SubstringIndex) -> exp.Expr:
    """substring_index(s, delimiter, n): before the n-th delimiter (n > 0) or after the n-th from the end (n < 0)."""
    s, delimiter, n = node.this, node.args["delimiter"], node.args["count"]
    return duck(
        "CASE WHEN ({n}) > 0 THEN ARRAY_TO_STRING(STRING_SPLIT({s}, {d})[1:({n})], {d}) WHEN ({n}) < 0 THEN "
        "ARRAY_TO_STRING(STRING_SPLIT({s}, {d})[({n}):], {d}) ELSE '' END",
        s=s, d=delimiter, n=n,
    )  # fmt: skip


def _refuse(name: str) -> Callable[[exp.Expr], exp.Expr]:
    def refuse(node: exp.Expr) -> exp.Expr:
        raise refused(name)

    return refuse


BY_KIND: dict[type[exp.Expr], Callable] = {
    exp.AddMonths: _add_months,
    exp.ArrayContains: _array_contains,
    exp.ArrayDistinct: _refuse("array_distinct (DuckDB's drops NULL and reorders)"),
    exp.ArrayPosition: _array_position,
    exp.ArrayRemove: _array_remove,
    exp.ArraySort: _array_sort,
    exp.DateDiff: _date_diff,
    exp.TimestampDiff: _date_diff,
    exp.GenerateSeries: _sequence,
    exp.Levenshtein: lambda n: _refuse("levenshtein with a threshold")(n) if n.args.get("ins_cost") else n,
    exp.MonthsBetween: _refuse("months_between (Databricks' day-fraction rules)"),
    exp.RegexpReplace: _regexp_replace,
    exp.DayOfWeek: _day_of_week,
    exp.Typeof: _typeof,
    exp.Quantile: _percentile,
    exp.ApproxQuantile: _percentile_approx,
    exp.TimeToStr: _date_format,
    exp.SubstringIndex: _substring_index,
    exp.Nanvl: _nanvl,
}
BY_NAME: dict[str, Callable] = {  # functions sqlglot leaves anonymous
    "weekday": _weekday,
    "pmod": _pmod,
    "bround": _bround,
    "hash": _refuse("hash (Murmur3 of Spark's own encoding)"),
}


_CALL = re.compile(r"\b(percentile|ceil|ceiling|floor)\s*\(", re.I)
_QUOTED_UNIT = re.compile(
    r"\b(timestampadd|timestampdiff|timestamp_add|timestamp_diff|dateadd|date_add|datediff|date_diff)\s*\(\s*"
    r"'(YEAR|QUARTER|MONTH|WEEK|DAY|DAYOFYEAR|HOUR|MINUTE|SECOND|MILLISECOND|MICROSECOND)'\s*,",
    re.I,
)
_SPLIT_SHIFT = re.compile(r"(>\s+>|<\s+<)(?=\s*[\w('+-])")  # not `ARRAY<ARRAY<INT> >)`


def blanked(sql: str) -> str:
    """`sql` with the insides of its quoted strings and names blanked (same length)."""
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`", lambda m: m.group(0)[0] * len(m.group(0)), sql)


def refuse_lost_arguments(sql: str) -> None:
    """What sqlglot's parse loses and Spark's parser refuses or keeps: percentile(x, p, frequency) would become
    percentile(x, p), ceil/floor(x, s, extra) ceil(x, s), a quoted unit in timestampadd('MONTH', ...) a bare one,
    `a > > b` a shift."""
    if (unit := _QUOTED_UNIT.search(sql)) is not None:
        raise LocalSQLError(
            "INVALID_PARAMETER_VALUE.DATETIME_UNIT",
            f"The value of parameter(s) `unit` in `{unit.group(1).lower()}` is invalid: expects one of the units "
            f"without quotes YEAR, QUARTER, MONTH, WEEK, DAY, DAYOFYEAR, HOUR, MINUTE, SECOND, MILLISECOND, "
            f"MICROSECOND, but got the string literal '{unit.group(2)}'.",
            "22023",
        )
    blank = blanked(sql)
    if (shift := _SPLIT_SHIFT.search(blank)) is not None:
        raise LocalSQLError("PARSE_SYNTAX_ERROR", f"Syntax error at or near '{shift.group(0)[-1]}'.", "42601")
    for match in _CALL.finditer(blank):
        depth, commas, i = 1, 0, match.end()
        while i < len(blank) and depth:
            ch = blank[i]
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 1:
                commas += 1
            i += 1
        name = match.group(1).lower()
        if commas >= 2 and name == "percentile":
            raise refused("percentile with a frequency")
        if commas >= 2:
            raise LocalSQLError(
                "WRONG_NUM_ARGS.WITHOUT_SUGGESTION",
                f"The `{name}` requires [1, 2] parameters but the actual number is {commas + 1}.",
                "42605",
            )


def rewrite(node: exp.Expr) -> exp.Expr:
    """`node` as DuckDB answers it the Databricks way (unchanged when it needs nothing)."""
    fix = BY_NAME.get(node.name.lower()) if isinstance(node, exp.Anonymous) else BY_KIND.get(type(node))
    return fix(node) if fix else node
