"""The names Spark (and so Databricks) gives unaliased SELECT expressions.

Spark names such a column `toPrettySQL(expr)`: the expression's SQL with columns unqualified, literals bare (`1`,
`a` for 'a'), operators in parentheses (`(a + 1)`), calls under Spark's lowercase names with every argument (defaults
included) and implicit casts left out. `spark_name` renders that from the sqlglot tree of the user's SQL
(read="databricks"). Where sqlglot's canonical nodes hide which function the user typed (`ifnull`, `nvl` and
`coalesce` are all `exp.Coalesce`), the length of the name token, which sqlglot keeps in the node's meta, tells
Spark's aliases apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlglot import exp
from sqlglot.dialects.databricks import Databricks
from sqlglot.time import format_time

Rule = Callable[["SparkNames", Any], str]
DType = exp.DType


def spark_name(projection: exp.Expr, time_zone: str = "UTC") -> str:
    """The column name Spark gives `projection`, an unaliased SELECT expression parsed with read="databricks" and
    still in its SELECT (whose FROM tells a table's `t.a` from a struct's `s.f`, and whose WINDOW clause names
    windows). `time_zone`: the session's, in which TIMESTAMP literals with an offset are shown."""
    names = SparkNames(time_zone)
    if isinstance(projection, exp.Column):
        return str(projection.name)  # t.a and a struct's s.f alike: the last name
    if isinstance(projection, exp.Explode) and not isinstance(projection, exp.Posexplode):
        return "col"  # a generator's column (an array's; a map's are key and value)
    inner = projection.this if isinstance(projection, exp.Cast) and typed_length(projection) is None else None
    if isinstance(inner, exp.Column) and "." not in names.sql(inner):
        return names.sql(inner)  # CAST(a AS INT) keeps the column's name (a struct's field, s.f, does not)
    variant = inner if inner is not None else projection
    if isinstance(variant, exp.JSONExtract) and variant.args.get("variant_extract"):
        return names.variant_field(variant)  # v:a.b, and CAST(v:a.b AS INT), are named by the last field, b
    return names.sql(projection)


def _binary(op: str) -> Rule:
    return lambda self, e: f"({self.sql(e.this)} {op} {self.sql(e.expression)})"


def _call(name: str, *keys: str) -> Rule:
    """A call of `name` on the node's arguments `keys` (all of them, in sqlglot's order, when none are given)."""
    return lambda self, e: self.call(name, *self.args(e, *keys))


def typed_length(node: exp.Expr) -> int | None:
    """The length of the name (or literal) the user typed: sqlglot keeps the token's span in the node's meta."""
    start, end = node.meta.get("start"), node.meta.get("end")
    return end - start + 1 if isinstance(start, int) and isinstance(end, int) else None


def _position(node: exp.Expr) -> int | None:
    """Where a node starts in the SQL text, as far as the meta of it and its descendants tells."""
    starts = [n.meta["start"] for n in node.walk() if isinstance(n.meta.get("start"), int)]
    return min(starts) if starts else None


def _end(node: exp.Expr | None) -> int | None:
    """Where a node ends in the SQL text, as far as the meta of it and its descendants tells."""
    ends = [n.meta["end"] for n in node.walk() if isinstance(n.meta.get("end"), int)] if node is not None else []
    return max(ends) if ends else None


# sqlglot's node -> the name Spark shows; a dict picks by the length of the name typed (None: any other length)
FUNCTION_NAMES: dict[type[exp.Expr], str | dict[int | None, str]] = {
    exp.ApproxDistinct: "approx_count_distinct",
    exp.ApproxQuantile: {17: "approx_percentile", None: "percentile_approx"},
    exp.ArrayAgg: "collect_list",
    exp.ArraySize: {4: "size", None: "array_size"},
    exp.ArrayToString: "array_join",
    exp.ArraySlice: "slice",
    exp.ArrayUniqueAgg: "collect_set",
    exp.BitwiseAndAgg: "bit_and",
    exp.BitwiseCount: "bit_count",
    exp.BitwiseOrAgg: "bit_or",
    exp.BitwiseXorAgg: "bit_xor",
    exp.Ceil: {7: "ceiling", None: "ceil"},
    exp.Coalesce: {3: "nvl", 6: "ifnull", None: "coalesce"},
    exp.CurrentDatabase: "current_schema",
    exp.DayOfMonth: {3: "day", None: "dayofmonth"},
    exp.DayOfWeek: "dayofweek",
    exp.DayOfYear: "dayofyear",
    exp.DecodeCase: "decode",
    exp.EndsWith: "endswith",
    exp.Format: {6: "printf", None: "format_string"},
    exp.FromBase64: "unbase64",
    exp.GenerateSeries: "sequence",
    exp.Getbit: {7: "bit_get", None: "getbit"},
    exp.IsNan: "isnan",
    exp.JSONExtractScalar: "get_json_object",
    exp.JSONFormat: "to_json",
    exp.JSONKeys: "json_object_keys",
    exp.Length: {3: "len", 11: "char_length", 16: "character_length", None: "length"},
    exp.LogicalAnd: {5: "every", None: "bool_and"},
    exp.LogicalOr: {3: "any", 4: "some", None: "bool_or"},
    exp.Pow: {3: "pow", None: "POWER"},
    exp.Quantile: "percentile",
    exp.Reduce: {6: "reduce", None: "aggregate"},
    exp.RegexpSplit: "split",
    exp.SafeAdd: "try_add",
    exp.SafeMultiply: "try_multiply",
    exp.SafeSubtract: "try_subtract",
    exp.SHA: {3: "sha", None: "sha1"},
    exp.Sign: {4: "sign", None: "SIGNUM"},
    exp.StartsWith: "startswith",
    exp.StrToUnix: {17: "to_unix_timestamp", None: "unix_timestamp"},
    exp.TimestampFromParts: "make_timestamp",
    exp.ToBase64: "base64",
    exp.VariancePop: "var_pop",
    exp.WeekOfYear: "weekofyear",
}

# Functions sqlglot keeps by name (exp.Anonymous) that Spark shows under another name
RENAMED = {"positive": "+", "regexp": "REGEXP", "spark_partition_id": "SPARK_PARTITION_ID", "timediff": "timestampdiff"}

# Spark's math functions named in capitals when called by their own name (`SIGNUM(x)`, but `sign(x)`)
CAPITALIZED = {
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "cos", "cosh", "cot", "csc", "degrees", "exp",
    "expm1", "hypot", "log10", "log1p", "log2", "radians", "sec", "sin", "sinh", "sqrt", "tan", "tanh",
    "rank", "dense_rank", "percent_rank", "e", "pi",
}  # fmt: skip

# Arguments Spark shows though the call leaves them out: name -> (its arity, the defaults of its last arguments)
DEFAULT_ARGS: dict[str, tuple[int, tuple[str, ...]]] = {
    "approx_percentile": (3, ("10000",)),
    "bround": (2, ("0",)),
    "hll_sketch_agg": (2, ("12",)),
    "hll_union": (3, ("false",)),
    "lag": (3, ("1", "NULL")),
    "lead": (3, ("1", "NULL")),
    "locate": (3, ("1",)),
    "lpad": (3, (" ",)),
    "make_dt_interval": (4, ("0", "0", "0.000000")),
    "make_interval": (7, ("0", "0", "0", "0", "0", "0.000000")),
    "make_ym_interval": (2, ("0",)),
    "mask": (5, ("X", "x", "n", "NULL")),
    "months_between": (3, ("true",)),
    "overlay": (4, ("-1",)),
    "percentile": (3, ("1",)),
    "percentile_approx": (3, ("10000",)),
    "position": (3, ("1",)),
    "regexp_extract": (3, ("1",)),
    "regexp_extract_all": (3, ("1",)),
    "regexp_instr": (3, ("0",)),
    "regexp_replace": (4, ("1",)),
    "replace": (3, ("",)),
    "round": (2, ("0",)),
    "rpad": (3, (" ",)),
    "sentences": (3, ("", "")),
    "sort_array": (2, ("true",)),
    "st_asbinary": (2, ("NDR",)),
    "st_geomfromwkb": (2, ("0",)),
    "split": (3, ("-1",)),
    "substring": (3, ("2147483647",)),
    "theta_sketch_agg": (2, ("12",)),
    "theta_union": (3, ("12",)),
    "theta_union_agg": (2, ("12",)),
    "time_bucket": (3, ("TIMESTAMP '1970-01-01 00:00:00'",)),
    "tuple_intersection_double": (3, ("sum",)),
    "tuple_intersection_integer": (3, ("sum",)),
    "tuple_intersection_theta_double": (3, ("sum",)),
    "tuple_intersection_theta_integer": (3, ("sum",)),
    "tuple_sketch_agg_double": (4, ("12", "sum")),
    "tuple_sketch_agg_integer": (4, ("12", "sum")),
    "tuple_sketch_summary_double": (2, ("sum",)),
    "tuple_sketch_summary_integer": (2, ("sum",)),
    "tuple_union_agg_double": (3, ("12", "sum")),
    "tuple_union_agg_integer": (3, ("12", "sum")),
    "tuple_union_double": (4, ("12", "sum")),
    "tuple_union_integer": (4, ("12", "sum")),
    "tuple_union_theta_double": (4, ("12", "sum")),
    "tuple_union_theta_integer": (4, ("12", "sum")),
    "vector_norm": (2, ("2.0",)),
    "vector_normalize": (2, ("2.0",)),
}

# Spark's cast functions, `int(x)`: shown as their argument (only a CAST the user wrote shows as one)
CAST_FUNCTIONS = {
    "bigint", "binary", "boolean", "date", "decimal", "double", "float", "int", "smallint", "string", "time",
    "timestamp", "timestamp_ntz", "tinyint",
}  # fmt: skip

# Parameter names, for calls that name their arguments (`mask(s, lowerChar => 'q')`): Spark shows them in order
PARAMETERS = {
    "count_min_sketch": ("column", "epsilon", "confidence", "seed"),
    "mask": ("str", "upperchar", "lowerchar", "digitchar", "otherchar"),
    "tuple_sketch_agg_double": ("key", "summary", "lgnomentries", "mode"),
    "tuple_sketch_agg_integer": ("key", "summary", "lgnomentries", "mode"),
    "tuple_union_agg_double": ("child", "lgnomentries", "mode"),
    "tuple_union_agg_integer": ("child", "lgnomentries", "mode"),
    "tuple_union_double": ("first", "second", "lgnomentries", "mode"),
    "tuple_union_integer": ("first", "second", "lgnomentries", "mode"),
    "tuple_union_theta_double": ("first", "second", "lgnomentries", "mode"),
    "tuple_union_theta_integer": ("first", "second", "lgnomentries", "mode"),
}

# Functions Spark shows with their first arguments only (a schema, options, a type are left out)
SHOWN_ARGUMENTS = {
    "from_csv": 1, "from_json": 1, "from_xml": 1, "schema_of_csv": 1, "schema_of_json": 1, "schema_of_xml": 1,
    "to_csv": 1, "to_json": 1, "to_xml": 1, "try_variant_get": 2, "variant_get": 2,
}  # fmt: skip

_ROWS_FRAME = {"row_number", "rank", "dense_rank", "percent_rank", "ntile"}  # ROWS ... AND CURRENT ROW, their own
_ARRAY_SORT_DEFAULT = (
    "lambdafunction((IF(((namedlambdavariable() IS NULL) AND (namedlambdavariable() IS NULL)), 0, "
    "(IF((namedlambdavariable() IS NULL), 1, (IF((namedlambdavariable() IS NULL), -1, "
    "(IF((namedlambdavariable() < namedlambdavariable()), -1, (IF((namedlambdavariable() > namedlambdavariable()), "
    "1, 0)))))))))), namedlambdavariable(), namedlambdavariable())"
)
_NUMBER_FORMAT = re.compile(r"[$S]?[09,.DGL$]*[09][09,.DGL$]*(S|MI|PR)?", re.I)


class SparkNames:
    """A generator in sqlglot's shape (TRANSFORMS, then `<key>_sql` methods) that prints Spark's pretty SQL.

    It stands alone rather than subclassing the Databricks dialect's Generator: sqlglot's compiled build (sqlglotc)
    refuses Python subclasses of its generators."""

    TRANSFORMS: ClassVar[dict[type[exp.Expr], Rule]] = {
        exp.Add: lambda self, e: self.datetime_arithmetic(e, "+"),
        exp.Sub: lambda self, e: self.datetime_arithmetic(e, "-"),
        exp.Mul: lambda self, e: self.interval_product(e),
        exp.Div: _binary("/"),
        exp.Mod: lambda self, e: self.operator(e, "%", {3: "mod"}),
        exp.IntDiv: _binary("div"),
        exp.BitwiseAnd: _binary("&"),
        exp.BitwiseOr: _binary("|"),
        exp.BitwiseXor: _binary("^"),
        exp.BitwiseLeftShift: lambda self, e: self.operator(e, "<<", {9: "shiftleft"}),
        exp.BitwiseRightShift: lambda self, e: self.operator(e, ">>", {10: "shiftright"}),
        exp.EQ: _binary("="),
        exp.NullSafeEQ: _binary("<=>"),
        exp.GT: _binary(">"),
        exp.GTE: _binary(">="),
        exp.LT: _binary("<"),
        exp.LTE: _binary("<="),
        exp.And: _binary("AND"),
        exp.Or: _binary("OR"),
        exp.NEQ: lambda self, e: f"(NOT ({self.sql(e.this)} = {self.sql(e.expression)}))",
        exp.NullSafeNEQ: lambda self, e: f"(NOT ({self.sql(e.this)} <=> {self.sql(e.expression)}))",
        exp.BitwiseNot: lambda self, e: f"~{self.sql(e.this)}",
        exp.Paren: lambda self, e: self.sql(e.this),
        exp.DPipe: lambda self, e: self.call("concat", e.this, e.expression),
        exp.ArgMax: _call("max_by", "this", "expression", "count"),
        exp.ArgMin: _call("min_by", "this", "expression", "count"),
        exp.ILike: lambda self, e: (
            f"(NOT {self.call('ilike', e.this, e.expression)})"
            if e.args.get("negate")
            else self.call("ilike", e.this, e.expression)
        ),
        exp.SafeDivide: _call("try_divide", "this", "expression"),
        exp.TryCast: lambda self, e: f"TRY_CAST({self.sql(e.this)} AS {self.sql(e.to)})",
        exp.VarMap: lambda self, e: self.call("map", *self.pairs(e.args["keys"], e.args["values"])),
        exp.Map: lambda self, e: self.call("map_from_arrays", e.args.get("keys"), e.args.get("values")),
        exp.FromTimeZone: lambda self, e: self.call("to_utc_timestamp", _uncast(e.this), e.args.get("zone")),
        exp.AtTimeZone: lambda self, e: self.call("from_utc_timestamp", _uncast(e.this), e.args.get("zone")),
        exp.Initcap: _call("initcap", "this"),
        exp.Log: lambda self, e: {4: f"LOG2({self.sql(e.expression)})", 5: f"LOG10({self.sql(e.expression)})"}.get(
            typed_length(e) or 0, f"LOG({self.sql(e.this)}, {self.sql(e.expression)})"
        ),
        exp.Ln: lambda self, e: self.call("ln", e.this) if typed_length(e) == 2 else f"LOG(E(), {self.sql(e.this)})",
        # with or without parentheses: a column named current_date would be named so, only the catalog knows
        exp.CurrentTimestamp: lambda self, e: "now()" if typed_length(e) == 3 else "current_timestamp()",
        exp.CurrentDate: lambda self, e: "current_date()",
        exp.CurrentUser: lambda self, e: "current_user()",
        exp.Kwarg: lambda self, e: self.sql(e.expression),
        exp.Nvl2: _call("nvl2", "this", "true", "false"),
        exp.Greatest: _call("greatest", "this", "expressions"),
        exp.Least: _call("least", "this", "expressions"),
        exp.ConcatWs: _call("concat_ws", "expressions"),
        exp.Chr: _call("chr", "expressions"),
    }

    def __init__(self, time_zone: str = "UTC"):
        self.time_zone = time_zone

    def sql(self, node: Any) -> str:
        """The pretty SQL of a node: its TRANSFORMS rule, its `<key>_sql` method, or a call of its name."""
        if node is None:
            return ""
        if not isinstance(node, exp.Expr):
            return str(node)
        rule = self.TRANSFORMS.get(type(node))
        if rule is not None:
            return rule(self, node)
        method = getattr(self, f"{node.key}_sql", None)
        if method is not None:
            return str(method(node))
        if isinstance(node, exp.Func):
            return self.call(self.func_name(node), *self.args(node))
        return str(node.sql("databricks"))

    # ---- building blocks ---------------------------------------------------------------------------------------
    def args(self, node: exp.Expr, *keys: str) -> list[exp.Expr]:
        """The node's argument expressions, by `keys` or in sqlglot's order, lists flattened."""
        out: list[exp.Expr] = []
        for key in keys or tuple(node.arg_types):
            value = node.args.get(key)
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, exp.Expr):
                    out.append(v)
        return out

    def call(self, name: str, *args: Any) -> str:
        """`name(a, b)`, with the arguments Spark shows though the call leaves them out."""
        if any(isinstance(a, exp.Kwarg) for a in args) and name in PARAMETERS:
            args = tuple(self.in_order(name, list(args)))
        shown = [self.sql(a) for a in args]
        if name in SHOWN_ARGUMENTS:
            shown = shown[: SHOWN_ARGUMENTS[name]]
        arity, defaults = DEFAULT_ARGS.get(name, (0, ()))
        if len(shown) < arity:
            shown += list(defaults[len(defaults) - (arity - len(shown)) :])
        return f"{name}({', '.join(shown)})"

    def in_order(self, name: str, args: list[Any]) -> list[Any]:
        """Arguments named `p => x` put in their parameters' places, defaults in the places left between."""
        parameters = PARAMETERS[name]
        slots: list[Any] = [None] * len(parameters)
        for i, arg in enumerate(args):
            if isinstance(arg, exp.Kwarg):
                if arg.this.name.lower() not in parameters:
                    return args
                slots[parameters.index(arg.this.name.lower())] = arg.expression
            elif i < len(slots):
                slots[i] = arg
        while slots and slots[-1] is None:
            slots.pop()
        arity, defaults = DEFAULT_ARGS.get(name, (len(parameters), ()))
        first = arity - len(defaults)
        return [
            x if x is not None else exp.var(defaults[i - first] if i >= first else "NULL") for i, x in enumerate(slots)
        ]

    def operator(self, e: exp.Binary, op: str, functions: dict[int, str]) -> str:
        """`a % 2`, or mod(a, 2) as called: sqlglot reads both as one node, the name token's length tells."""
        name = functions.get(typed_length(e) or 0)
        return self.call(name, e.this, e.expression) if name else f"({self.sql(e.this)} {op} {self.sql(e.expression)})"

    def pairs(self, keys: exp.Expr, values: exp.Expr) -> list[exp.Expr]:
        return [x for pair in zip(keys.expressions, values.expressions, strict=False) for x in pair]

    def func_name(self, node: exp.Func) -> str:
        """The name Spark shows for a call: Spark's canonical lowercase one, or the alias typed where Spark keeps it."""
        if isinstance(node, exp.Anonymous):
            name = str(node.name).lower()
            name = RENAMED.get(name, name)
        else:
            known = FUNCTION_NAMES.get(type(node))
            if isinstance(known, dict):
                name = known.get(typed_length(node), known.get(None, node.sql_name().lower()))
            else:
                name = known or node.sql_name().lower()
        return name.upper() if name in CAPITALIZED else name

    def time_format(self, node: exp.Expr | None) -> str:
        """A format sqlglot turned into strftime codes, back in Spark's pattern letters."""
        if node is None:
            return ""
        if isinstance(node, exp.Literal) and node.is_string:
            if node.this == "None":  # sqlglot's reading of ''
                return ""
            shown = format_time(str(node.this), Databricks.INVERSE_TIME_MAPPING, Databricks.INVERSE_TIME_TRIE)
            return str(shown or "")
        return self.sql(node)

    # ---- leaves ------------------------------------------------------------------------------------------------
    def literal_sql(self, e: exp.Literal) -> str:
        return str(e.this) if e.is_string else _number(str(e.this))

    def boolean_sql(self, e: exp.Boolean) -> str:
        return "true" if e.this else "false"

    def null_sql(self, _: exp.Null) -> str:
        return "NULL"

    def hexstring_sql(self, e: exp.HexString) -> str:
        return f"X'{str(e.this).upper()}'"

    def column_sql(self, e: exp.Column) -> str:
        """A column, unqualified: `t.a` -> `a`, but a struct's field keeps its path, `s.f` (a qualifier that names
        none of the tables the SELECT reads is a struct column)."""
        names = [str(p.name) for p in e.parts]
        if names == ["grouping__id"]:
            return "grouping_id()"
        sources = _sources(e)
        if sources is None:
            return names[-1]
        for i, name in enumerate(names[:-1]):
            if name.lower() in sources:
                return ".".join(names[i + 1 :])
        return ".".join(names)

    def collate_sql(self, e: exp.Collate) -> str:
        collation = e.expression
        name = collation.parts[-1].name if isinstance(collation, (exp.Column, exp.Dot)) else self.sql(collation)
        return f"collate({self.sql(e.this)}, {name})"

    def jsonextract_sql(self, e: exp.JSONExtract) -> str:
        if not e.args.get("variant_extract"):
            return self.call("json_extract", e.this, e.expression)
        return f"variant_get({self.sql(e.this)}, {self.sql(e.expression)}) AS {self.variant_field(e)}"

    def variant_field(self, e: exp.JSONExtract) -> str:
        keys = [p.name for p in e.expression.expressions if isinstance(p, exp.JSONPathKey)]
        return str(keys[-1]) if keys else self.sql(e.expression)

    def jsonpath_sql(self, e: exp.JSONPath) -> str:
        out = ""
        for part in e.expressions:
            if isinstance(part, exp.JSONPathRoot):
                out += "$"
            elif isinstance(part, exp.JSONPathKey):
                out += f".{part.name}"
            elif isinstance(part, exp.JSONPathSubscript):
                out += f"[{self.sql(part.this)}]"
            else:
                out += part.sql("databricks")
        return out if out.startswith("$") else f"${out}"

    def identifier_sql(self, e: exp.Identifier) -> str:
        return str(e.name)

    def var_sql(self, e: exp.Var) -> str:
        return str(e.name)

    def star_sql(self, _: exp.Star) -> str:
        return "*"

    def dot_sql(self, e: exp.Dot) -> str:
        return f"{self.sql(e.this)}.{self.sql(e.expression)}"

    def bracket_sql(self, e: exp.Bracket) -> str:
        if e.args.get("offset") == 1 or e.args.get("safe"):
            return self.call("try_element_at" if e.args.get("safe") else "element_at", e.this, *e.expressions)
        return f"{self.sql(e.this)}[{', '.join(self.sql(x) for x in e.expressions)}]"

    def tuple_sql(self, e: exp.Tuple) -> str:
        """`(a, b)`: Spark makes it a struct, `named_struct(a, a, b, b)`."""
        fields: list[str] = []
        for i, x in enumerate(e.expressions):
            fields += [x.name if isinstance(x, exp.Column) else f"col{i + 1}", self.sql(x)]
        return f"named_struct({', '.join(fields)})"

    def struct_sql(self, e: exp.Struct) -> str:
        if typed_length(e) == 6:  # struct(a, 1 AS b): names only where given
            shown = []
            for x in e.expressions:
                value = x.expression if isinstance(x, exp.PropertyEQ) else x
                named = isinstance(x, exp.PropertyEQ) and not (isinstance(value, exp.Column) and value.name == x.name)
                shown.append(f"{self.sql(value)} AS {x.name}" if named else self.sql(value))
            return f"struct({', '.join(shown)})"
        fields: list[str] = []
        for x in e.expressions:
            if isinstance(x, exp.PropertyEQ):
                fields += [x.this.name, self.sql(x.expression)]
            else:
                fields.append(self.sql(x))
        return f"named_struct({', '.join(fields)})"

    def lambda_sql(self, e: exp.Lambda) -> str:
        """`x -> x + 1` as Spark prints a lambda: `lambdafunction((namedlambdavariable() + 1), namedlambdavariable())`."""
        names = {p.name for p in e.expressions}
        body = e.this.transform(
            lambda n: (
                exp.var("namedlambdavariable()")
                if isinstance(n, (exp.Identifier, exp.Column))
                and n.name in names
                and not isinstance(n.parent, exp.Column)
                else n
            )
        )
        return self.call("lambdafunction", body, *[exp.var("namedlambdavariable()") for _ in e.expressions])

    def reduce_sql(self, e: exp.Reduce) -> str:
        name = self.func_name(e)
        finish = e.args.get("finish") or exp.var("lambdafunction(namedlambdavariable(), namedlambdavariable())")
        return self.call(name, e.this, e.args.get("initial"), e.args.get("merge"), finish)

    def concat_sql(self, e: exp.Concat) -> str:
        parts = e.expressions
        if typed_length(e) is None and all(isinstance(p, exp.Literal) and p.is_string for p in parts):
            return "".join(str(p.this) for p in parts)  # 'hello' ' ' 'world', one literal to Spark
        return self.call("concat", *parts)

    def any_sql(self, e: exp.Any) -> str:
        return self.call("any", e.this.unnest() if isinstance(e.this, exp.Paren) else e.this)

    def ceil_sql(self, e: exp.Ceil) -> str:
        return self.rounding(e, "ceil", 7, "ceiling")

    def floor_sql(self, e: exp.Floor) -> str:
        return self.rounding(e, "floor", 0, "")

    def rounding(self, e: exp.Func, name: str, alias_length: int, alias: str) -> str:
        """ceil(x) is `CEIL(x)` to Spark, ceil(x, d) `ceil(x, d)`, ceiling(x) `ceiling(x)`."""
        args = self.args(e, "this", "decimals")
        if alias and typed_length(e) == alias_length:
            return self.call(alias, *args)
        return self.call(name if len(args) > 1 else name.upper(), *args)

    def mode_sql(self, e: exp.Mode) -> str:
        """mode(x), or mode(x, true), which Spark shows as mode() WITHIN GROUP (ORDER BY x DESC)."""
        deterministic = e.args.get("deterministic") or (e.expressions[0] if e.expressions else None)
        if isinstance(deterministic, exp.Boolean) and deterministic.this:
            return f"mode() WITHIN GROUP (ORDER BY {self.sql(e.this)} DESC)"
        return self.call("mode", *([e.this] if e.this is not None else []))

    def anonymous_sql(self, e: exp.Anonymous) -> str:
        name = self.func_name(e)
        args = list(e.expressions)
        if name == "datepart" and len(args) == 2:
            return f"datepart({self.sql(args[0])} FROM {self.sql(args[1])})"
        if name in ("to_varchar", "to_char"):
            return self.to_char(args)
        if name == "try_to_time":
            return f"try_to_time({self.call('to_time', *args)})"
        if name in CAST_FUNCTIONS and len(args) == 1:
            return self.sql(args[0])
        if name == "assert_true" and len(args) == 1:
            return f"assert_true({self.sql(args[0])}, '{self.sql(args[0])}' is not true!)"
        if name == "identifier" and len(args) == 1 and _constant_text(args[0]) is not None:
            return str(_constant_text(args[0])).split(".")[-1].strip("`")
        if name in ("make_timestamp_ltz", "try_make_timestamp_ltz") and len(args) <= 3:  # (date, time[, zone])
            return self.call("make_timestamp", *args)
        if name == "try_make_timestamp_ntz" and len(args) == 2:
            return f"try_make_timestamp_ntz({self.call('make_timestamp_ntz', *args)})"
        if name == "time_bucket" and len(args) == 2 and self.kind(args[1]) == "ntz":
            return self.call(name, *args, exp.var("TIMESTAMP_NTZ '1970-01-01 00:00:00'"))
        if name in ("window", "session_window"):  # Spark resolves these to a column of that name
            return name
        if name == "+" and len(args) == 1:
            return f"(+ {self.sql(args[0])})"
        if name in ("isnull", "isnotnull") and len(args) == 1:
            return f"({self.sql(args[0])} IS {'NOT ' if name == 'isnotnull' else ''}NULL)"
        return self.call(name, *args)

    def fromjson_sql(self, e: exp.FromJson) -> str:
        schema = str(_constant_text(e.expression) or "") if e.expression is not None else ""
        if schema.replace(" ", "").lower().startswith("map<") and isinstance(e.parent, (exp.Select, type(None))):
            return "entries"  # a map's from_json is named so as a column of its own
        return self.call("from_json", e.this)

    # ---- types, casts and typed literals ----------------------------------------------------------------------
    def datatype_sql(self, e: exp.DataType) -> str:
        """A type as Spark's `DataType.sql` prints it: `DECIMAL(10,0)`, `ARRAY<INT>`, `STRUCT<a: INT>`."""
        kind = e.this
        if isinstance(kind, exp.Interval):  # INTERVAL DAY TO SECOND
            unit = kind.args.get("unit")
            if isinstance(unit, exp.IntervalSpan):
                return f"INTERVAL {_unit(unit.this.name)} TO {_unit(unit.expression.name)}"
            return f"INTERVAL {_unit(unit.name)}" if unit is not None else "INTERVAL"
        params = [p.this if isinstance(p, exp.DataTypeParam) else p for p in e.expressions]
        if kind == DType.ARRAY:
            return f"ARRAY<{self.sql(params[0]) if params else 'STRING'}>"
        if kind == DType.MAP:
            return f"MAP<{', '.join(self.sql(p) for p in params)}>"
        if kind == DType.STRUCT:
            return f"STRUCT<{', '.join(self.sql(p) for p in params)}>"
        if kind == DType.DECIMAL:
            shown = [self.sql(p) for p in params] or ["10"]
            return f"DECIMAL({shown[0]},{shown[1] if len(shown) > 1 else '0'})"
        name = _TYPE_NAMES.get(kind, str(kind.value))
        if kind in (DType.TIMESTAMPNTZ, DType.TIMESTAMPLTZ, DType.TIMESTAMPTZ, DType.TIMESTAMP) and params:
            precision = int(self.sql(params[0]))
            return name if precision == 6 else f"{'TIMESTAMP_LTZ' if name == 'TIMESTAMP' else name}({precision})"
        if kind == DType.TIME:
            return f"TIME({self.sql(params[0]) if params else 6})"
        if params:
            name = f"{name}({','.join(self.sql(p) for p in params)})"
        collation = e.args.get("collate")
        if collation is not None:  # STRING COLLATE UTF8_LCASE
            name += f" COLLATE {(collation.name if isinstance(collation, exp.Column) else self.sql(collation)).upper()}"
        return name

    def columndef_sql(self, e: exp.ColumnDef) -> str:
        return f"{self.sql(e.this)}: {self.sql(e.args.get('kind'))}"

    def datatypeparam_sql(self, e: exp.DataTypeParam) -> str:
        return self.sql(e.this)

    def cast_sql(self, e: exp.Cast) -> str:
        length = typed_length(e)
        if length is not None:  # a function sqlglot made a CAST of: to_timestamp(x), or a cast function, int(x)
            return self.call("to_timestamp", e.this) if length == 12 else self.sql(e.this)
        literal = self.typed_literal(e)
        if literal is not None:
            return literal
        if e.to.is_type(DType.ARRAY, DType.MAP, DType.STRUCT):  # Spark's analysis re-makes these, unmarked
            return self.sql(e.this)
        return f"CAST({self.sql(e.this)} AS {self.sql(e.to)})"

    def typed_literal(self, e: exp.Cast) -> str | None:
        """`25Y`, `1.0BD`, `DATE '2001-09-28'`: literals sqlglot reads as casts. CAST(...) leaves a `format` argument
        in the node and `x::type` does not, nor does a typed literal; so `'2001-09-28'::DATE` shows as a literal."""
        if "format" in e.args or not isinstance(e.to, exp.DataType):
            return None
        inner, kind = e.this, e.to.this
        casts: list[exp.DataType] = []  # `TIMESTAMP_NTZ '...'::TIMESTAMP(9)`: sqlglot puts the literal's type outside
        while isinstance(inner, exp.Cast) and "format" not in inner.args and typed_length(inner) is None:
            casts.append(inner.to)
            inner = inner.this
        if casts:
            if not (isinstance(inner, exp.Literal) and inner.is_string and kind in _DATETIME_LITERALS):
                return None
            if e.to.expressions:
                return None
            shown = self.datetime_literal(kind, str(inner.this))
            for to in reversed(casts):
                shown = f"CAST({shown} AS {self.sql(to)})"
            return shown
        if not isinstance(inner, exp.Literal):
            return None
        text = str(inner.this)
        if inner.is_string and kind in _DATETIME_LITERALS and not e.to.expressions:
            return self.datetime_literal(kind, text)
        if inner.is_string and kind == DType.DECIMAL and _position(inner) is None:  # 1.0BD
            return _decimal(text)
        span = typed_length(inner)
        if inner.is_string or (span is not None and span == len(text)):
            return None  # '1'::INT, 1::SMALLINT
        if kind in (DType.DOUBLE, DType.FLOAT):
            return _java_double(float(text))
        return _number(text)

    def datetime_literal(self, kind: exp.DType, text: str) -> str:
        """DATE, TIME and TIMESTAMP literals, their values as Spark prints them."""
        if kind == DType.DATE:
            return f"DATE '{_date_text(text)}'"
        if kind == DType.TIME:
            return f"TIME '{_time_text(text)}'"
        zone = None if kind == DType.TIMESTAMPNTZ else self.time_zone
        fraction = re.search(r"\d:\d\d(?::\d\d)?\.(\d+)", text)
        if fraction and len(fraction.group(1)) > 6:  # nanoseconds: Spark keeps the digits as written
            keyword = "TIMESTAMP_NTZ" if kind == DType.TIMESTAMPNTZ else "TIMESTAMP_LTZ"
            shown = _timestamp_text(text, zone, fraction.group(1))
            return f"{keyword} '{shown or text}'"
        keyword = "TIMESTAMP_NTZ" if kind == DType.TIMESTAMPNTZ else "TIMESTAMP"
        return f"{keyword} '{_timestamp_text(text, zone) or text}'"

    def interval_sql(self, e: exp.Interval) -> str:
        return _interval(e)

    # ---- operators ---------------------------------------------------------------------------------------------
    def not_sql(self, e: exp.Not) -> str:
        inner = e.this
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            return f"({self.sql(inner.this)} IS NOT NULL)"
        return f"(NOT {self.sql(inner)})"

    def neg_sql(self, e: exp.Neg) -> str:
        """`-1` and `-10L` are negative literals; `-x` is `(- x)`."""
        inner = e.this
        if isinstance(inner, exp.Literal) and not inner.is_string:
            return _number(f"-{inner.this}")
        if self.is_number(inner):
            return f"-{self.sql(inner)}"
        if isinstance(inner, exp.Cast) and "format" not in inner.args and self.is_number(inner.this):
            return (
                f"CAST(-{self.sql(inner.this)} AS {self.sql(inner.to)})"  # -10L::INT, which sqlglot reads -(10L::INT)
            )
        return f"(- {self.sql(inner)})"

    def is_number(self, node: exp.Expr) -> bool:
        """A numeric literal, typed (`10L`) or not."""
        if isinstance(node, exp.Literal):
            return not node.is_string
        return isinstance(node, exp.Cast) and self.typed_literal(node) is not None and node.to.is_type(*_NUMERIC)

    def kind(self, node: exp.Expr) -> str | None:
        """What an operand is, where its SQL tells: a DATE, TIME, TIMESTAMP_NTZ or other datetime (a literal or a
        cast), an integer literal, NULL, or a year-month or day-time INTERVAL literal (`ym`, `dt`, `day`: days)."""
        if isinstance(node, (exp.Neg, exp.Paren)):
            return self.kind(node.this) if self.kind(node.this) in ("ym", "dt", "day") else None
        if isinstance(node, exp.Null):
            return "null"
        if isinstance(node, exp.Interval) or _interval_parts(node):
            shown = self.sql(node)
            if shown.endswith(("YEAR", "MONTH")):
                return "ym"
            return "day" if shown.endswith("' DAY") else "dt"
        if isinstance(node, exp.Literal):
            return "int" if re.fullmatch(r"\d+", str(node.this)) and not node.is_string else None
        if isinstance(node, exp.Cast) and typed_length(node) is None:
            if node.to.is_type(DType.DATE):
                return "date"
            if node.to.is_type(DType.TIME):
                return "time"
            if node.to.is_type(DType.TIMESTAMPNTZ):
                return "ntz"
            if node.to.is_type(*_DATETIME_LITERALS):
                return "datetime"
            if node.to.is_type(DType.TINYINT, DType.SMALLINT, DType.INT, DType.BIGINT) and self.is_number(node):
                return "int"
        return None

    def datetime_arithmetic(self, e: exp.Binary, op: str) -> str:
        """`+` and `-`, with Spark's rewrites of date arithmetic: `date_add(d, n)` for DATE + n, DATE + INTERVAL n DAY
        through extractansiintervaldays, and `x + INTERVAL ...` (no parentheses) for other datetime arithmetic."""
        merged = _interval_from_parts(_interval_parts(e)) if op == "+" else None
        if merged is not None:  # INTERVAL 1 YEAR 2 MONTHS, which sqlglot reads as a sum
            return merged
        left, right = e.this, e.expression
        lk, rk = self.kind(left), self.kind(right)
        intervals, datetimes = ("ym", "dt", "day"), ("date", "datetime", "ntz", "time")
        if "time" in (lk, rk) and op == "-":  # TIME - TIME, TIME - NULL: SubtractTimes, shown without parentheses
            return f"{self.sql(left)} - {self.sql(right)}"
        if op == "+" and (rk in datetimes and lk in (*intervals, "int", "null") or rk is None and lk in intervals):
            left, right, lk, rk = right, left, rk, lk  # INTERVAL + d, n + DATE: Spark puts the datetime first
        if lk == "date" and rk == "int":
            return self.call("date_add" if op == "+" else "date_sub", left, right)
        if lk == "date" and rk == "day":
            days = f"extractansiintervaldays({self.sql(right)})"
            return f"date_add({self.sql(left)}, {days if op == '+' else f'(- {days})'})"
        if lk in datetimes and (rk in intervals or (rk == "null" and op == "+")) or (lk is None and rk in intervals):
            return f"{self.sql(left)} {op} {self.sql(right)}"
        return f"({self.sql(left)} {op} {self.sql(right)})"

    def interval_product(self, e: exp.Mul) -> str:
        left, right = e.this, e.expression
        if self.kind(right) in ("ym", "dt", "day") and self.kind(left) not in ("ym", "dt", "day"):
            left, right = right, left  # n * INTERVAL: Spark puts the interval first
        return f"({self.sql(left)} * {self.sql(right)})"

    def arraysort_sql(self, e: exp.ArraySort) -> str:
        """sort_array(a[, asc]) and array_sort(a[, comparator]), both exp.ArraySort."""
        nulls_first = e.args.get("nulls_first")
        if e.args.get("expression") is None and (e.args.get("asc") is not None or nulls_first == exp.true()):
            return self.call("sort_array", e.this, *([e.args["asc"]] if e.args.get("asc") is not None else []))
        comparator = e.args.get("expression") or exp.var(_ARRAY_SORT_DEFAULT)
        return self.call("array_sort", e.this, comparator)

    def in_sql(self, e: exp.In) -> str:
        query = e.args.get("query")
        if query is not None:
            return f"({self.sql(e.this)} IN (listquery({', '.join(_outer_references(query))})))"
        return f"({self.sql(e.this)} IN ({', '.join(self.sql(x) for x in e.expressions)}))"

    def is_sql(self, e: exp.Is) -> str:
        other = e.expression
        if isinstance(other, exp.Null):
            return f"({self.sql(e.this)} IS NULL)"
        if isinstance(other, exp.Boolean):
            return f"({self.sql(e.this)} <=> {self.sql(other)})"
        return f"({self.sql(e.this)} IS {self.sql(other)})"

    def like_sql(self, e: exp.Like) -> str:
        pattern = e.expression
        if isinstance(pattern, (exp.Any, exp.All)):  # LIKE ANY (...): Spark names it by the operator and the value
            name = f"{'not' if e.args.get('negate') else ''}like{'any' if isinstance(pattern, exp.Any) else 'all'}"
            return self.call(name, e.this)
        shown = f"{self.sql(e.this)} LIKE {self.sql(pattern)}"
        return f"(NOT {shown})" if e.args.get("negate") else shown

    def escape_sql(self, e: exp.Escape) -> str:
        if isinstance(e.this, exp.ILike):
            return self.sql(e.this)
        return f"{self.sql(e.this)} ESCAPE '{self.sql(e.expression)}'"

    def between_sql(self, e: exp.Between) -> str:
        return self.call("between", e.this, e.args["low"], e.args["high"])

    def regexplike_sql(self, e: exp.RegexpLike) -> str:
        name = {6: "REGEXP", 11: "REGEXP_LIKE"}.get(typed_length(e) or 0, "RLIKE")
        return self.call(name, e.this, e.expression)

    # ---- conditionals ------------------------------------------------------------------------------------------
    def case_sql(self, e: exp.Case) -> str:
        subject = e.this
        parts = ["CASE"]
        for branch in e.args.get("ifs") or []:
            condition = branch.this if subject is None else exp.EQ(this=subject.copy(), expression=branch.this.copy())
            parts.append(f"WHEN {self.sql(condition)} THEN {self.sql(branch.args.get('true'))}")
        if e.args.get("default") is not None:
            parts.append(f"ELSE {self.sql(e.args['default'])}")
        return " ".join(parts + ["END"])

    def if_sql(self, e: exp.If) -> str:
        return f"(IF({self.sql(e.this)}, {self.sql(e.args.get('true'))}, {self.sql(e.args.get('false'))}))"

    # ---- strings -----------------------------------------------------------------------------------------------
    def trim_sql(self, e: exp.Trim) -> str:
        position = str(e.args.get("position") or "BOTH").upper()
        characters = e.args.get("expression")
        if characters is not None:
            return f"TRIM({position} {self.sql(characters)} FROM {self.sql(e.this)})"
        name = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "trim")
        return self.call(name, e.this)

    def pad_sql(self, e: exp.Pad) -> str:
        args: list[Any] = self.args(e, "this", "expression", "fill_pattern")
        if len(args) == 2 and isinstance(e.this, (exp.Unhex, exp.HexString)):
            args.append(exp.var("X'00'"))  # a binary's padding
        return self.call("lpad" if e.args.get("is_left") else "rpad", *args)

    def converttimezone_sql(self, e: exp.ConvertTimezone) -> str:
        source = e.args.get("source_tz") or exp.var("current_timezone()")
        return self.call("convert_timezone", source, e.args.get("target_tz"), e.args.get("timestamp"))

    def strposition_sql(self, e: exp.StrPosition) -> str:
        length = typed_length(e)
        if length == 5:  # instr(str, substr[, position[, occurrence]])
            args: list[Any] = self.args(e, "this", "substr", "position", "occurrence")
            return self.call("instr", *args, *([exp.var("1")] if len(args) == 3 else []))
        end, start = _end(e.args.get("substr")), _position(e.this)
        in_form = end is not None and start is not None and start - end > 3  # position(s IN str): Spark's locate
        name = "locate" if length == 6 or in_form else "position"
        return self.call(name, *self.args(e, "substr", "this", "position"))

    def substring_sql(self, e: exp.Substring) -> str:
        return self.call("substring", *self.args(e, "this", "start", "length"))

    def tochar_sql(self, e: exp.ToChar) -> str:
        return self.to_char([e.this, e.args.get("format")])

    def to_char(self, args: list[Any]) -> str:
        """to_char / to_varchar: `to_char` on a number format, `date_format` on a datetime one."""
        pattern = args[1] if len(args) > 1 else None
        numeric = isinstance(pattern, exp.Literal) and _NUMBER_FORMAT.fullmatch(str(pattern.this)) is not None
        return self.call("to_char" if numeric else "date_format", *args)

    # ---- dates and times ---------------------------------------------------------------------------------------
    def tsordstodate_sql(self, e: exp.TsOrDsToDate) -> str:
        if typed_length(e) is None:  # sqlglot's own, around the argument of year(x), month(x), ...
            return self.sql(e.this)
        return self.call("to_date", e.this, *([self.time_format(e.args["format"])] if e.args.get("format") else []))

    def timestrtotime_sql(self, e: exp.TimeStrToTime) -> str:
        return self.sql(e.this) if typed_length(e) is None else self.call("to_timestamp", e.this)

    def timetostr_sql(self, e: exp.TimeToStr) -> str:
        return self.call("date_format", e.this, exp.Literal.string(self.time_format(e.args.get("format"))))

    def strtotime_sql(self, e: exp.StrToTime) -> str:
        return self.call("to_timestamp", e.this, exp.Literal.string(self.time_format(e.args.get("format"))))

    def strtounix_sql(self, e: exp.StrToUnix) -> str:
        shown = exp.Literal.string(self.time_format(e.args.get("format")) or "yyyy-MM-dd HH:mm:ss")
        return self.call(self.func_name(e), e.this, shown)

    def unixtostr_sql(self, e: exp.UnixToStr) -> str:
        return self.call("from_unixtime", e.this, exp.Literal.string(self.time_format(e.args.get("format"))))

    def datediff_sql(self, e: exp.DateDiff) -> str:
        """datediff(end, start) or, with a unit, datediff(UNIT, start, end), which Spark shows as timestampdiff."""
        end, start = _position(e.this), _position(e.expression)
        unit = _unit_name(e)
        with_unit = end > start if end is not None and start is not None else unit != "DAY"
        if not with_unit:
            return self.call("date_diff" if typed_length(e) == 9 else "datediff", e.this, e.expression)
        return self.call("timestampdiff", exp.var(unit), e.expression, e.this)

    def timestampdiff_sql(self, e: exp.TimestampDiff) -> str:
        return self.call("timestampdiff", exp.var(_unit_name(e)), e.expression, e.this)

    def timestampadd_sql(self, e: exp.TimestampAdd) -> str:
        return self.call("timestampadd", exp.var(_unit_name(e)), e.expression, e.this)

    def tsordsadd_sql(self, e: exp.TsOrDsAdd) -> str:
        days = e.expression
        if isinstance(days, exp.Mul) and isinstance(days.expression, exp.Neg):  # date_sub(d, n): n * -1
            return self.call("date_sub", e.this, days.this)
        return self.call("date_add", e.this, days)

    def timestamptrunc_sql(self, e: exp.TimestampTrunc) -> str:
        return self.call("date_trunc", exp.var(_unit_name(e)), e.this)

    def datetrunc_sql(self, e: exp.DateTrunc) -> str:
        return self.call("trunc", e.this, e.args.get("unit"))

    def extract_sql(self, e: exp.Extract) -> str:
        # Spark shows the field as typed; sqlglot keeps it in capitals only, and lowercase is the likelier guess
        field = self.sql(e.this).lower() if isinstance(e.this, exp.Var) else self.sql(e.this)
        return f"extract({field} FROM {self.sql(e.expression)})"

    def time_sql(self, e: exp.Time) -> str:
        return self.sql(e.this) if typed_length(e) == 4 else self.call("time", *self.args(e))

    # ---- aggregates and windows --------------------------------------------------------------------------------
    def count_sql(self, e: exp.Count) -> str:
        this = e.this
        if this is None:
            return "count()" if not e.expressions else self.call("count", *e.expressions)
        if isinstance(this, exp.Star):
            return "count(1)"
        return self.call("count", this, *e.expressions)

    def distinct_sql(self, e: exp.Distinct) -> str:
        return f"DISTINCT {', '.join(self.sql(x) for x in e.expressions)}"

    def filter_sql(self, e: exp.Filter) -> str:
        where = e.expression.this if isinstance(e.expression, exp.Where) else e.expression
        return f"{self.sql(e.this)} FILTER (WHERE {self.sql(where)})"

    def withingroup_sql(self, e: exp.WithinGroup) -> str:
        function, order = e.this, e.expression
        keys = order.expressions if isinstance(order, exp.Order) else []
        if isinstance(function, exp.GroupConcat):
            return self.listagg(function, keys)
        shown = []
        for key in keys:
            desc = bool(key.args.get("desc"))
            if isinstance(function, exp.Mode):
                desc = not desc  # Spark prints mode()'s ordering reversed
            shown.append(f"{self.sql(key.this)}{' DESC' if desc else ''}")
        name = self.func_name(function) if isinstance(function, exp.Func) else self.sql(function)
        return f"{self.call(name, *self.args(function))} WITHIN GROUP (ORDER BY {', '.join(shown)})"

    def groupconcat_sql(self, e: exp.GroupConcat) -> str:
        return self.listagg(e, [])

    def listagg(self, e: exp.GroupConcat, keys: list[exp.Expr]) -> str:
        this = e.this
        if isinstance(this, exp.Order):  # listagg(a ORDER BY b)
            keys, this = keys or this.expressions, this.this
        separator = e.args.get("separator")
        shown = f"listagg({self.sql(this)}, {self.sql(separator) if separator is not None else 'NULL'})"
        return shown + (f" WITHIN GROUP (ORDER BY {', '.join(self.sql(k) for k in keys)})" if keys else "")

    def ignorenulls_sql(self, e: exp.IgnoreNulls) -> str:
        """first / last / first_value / last_value keep IGNORE NULLS out of their names (the keyword form makes the
        last two first / last); nth_value shows it, `ignore nulls`."""
        inner = e.this
        if isinstance(inner, exp.NthValue):
            return f"{self.sql(inner)} ignore nulls"
        if typed_length(e) is None and isinstance(inner, (exp.FirstValue, exp.LastValue)):
            return self.call("first" if isinstance(inner, exp.FirstValue) else "last", *self.args(inner))
        return self.sql(inner)

    def respectnulls_sql(self, e: exp.RespectNulls) -> str:
        return self.sql(e.this)

    def window_sql(self, e: exp.Window) -> str:
        function = e.this
        named = _named_window(e)
        if named is not None:  # OVER w, WINDOW w AS (...)
            e = named
        partition = e.args.get("partition_by") or []
        order = e.args.get("order")
        keys = order.expressions if order is not None else []
        spec = []
        if partition:
            spec.append("PARTITION BY " + ", ".join(self.sql(p) for p in partition))
        if keys:
            spec.append("ORDER BY " + ", ".join(self.sql(k) for k in keys))
        spec.append(self.frame(e.args.get("spec"), function, bool(keys)))
        return f"{self.sql(function)} OVER ({' '.join(spec)})"

    def frame(self, spec: exp.WindowSpec | None, function: exp.Expr, ordered: bool) -> str:
        """The frame Spark shows: the one written, or the function's own, or the default for an ordered window."""
        inner = function.this if isinstance(function, (exp.IgnoreNulls, exp.RespectNulls)) else function
        if spec is None:
            name = self.func_name(inner) if isinstance(inner, exp.Func) else ""
            if name.lower() in _ROWS_FRAME:
                return "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
            if name in ("lag", "lead"):
                offset = inner.args.get("offset")
                n = self.sql(offset) if offset is not None else "1"
                n = n if name == "lead" else (n[1:] if n.startswith("-") else f"-{n}")
                return f"ROWS BETWEEN {n} FOLLOWING AND {n} FOLLOWING"
            if ordered:
                return "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
            return "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
        kind = str(spec.args.get("kind") or "ROWS").upper()
        start = self.bound(spec.args.get("start"), spec.args.get("start_side"))
        end = self.bound(spec.args.get("end"), spec.args.get("end_side")) if spec.args.get("end") else "CURRENT ROW"
        return f"{kind} BETWEEN {start} AND {end}"

    def bound(self, value: Any, side: Any) -> str:
        text = value if isinstance(value, str) else self.sql(value)
        if text.upper() in ("UNBOUNDED", "CURRENT ROW"):
            return "CURRENT ROW" if text.upper() == "CURRENT ROW" else f"UNBOUNDED {str(side).upper()}"
        return f"{text} {str(side).upper()}"

    def ordered_sql(self, e: exp.Ordered) -> str:
        desc = bool(e.args.get("desc"))
        nulls_first = e.args.get("nulls_first")
        nulls_first = (not desc) if nulls_first is None else bool(nulls_first)
        return f"{self.sql(e.this)} {'DESC' if desc else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}"

    # ---- subqueries --------------------------------------------------------------------------------------------
    def subquery_sql(self, e: exp.Subquery) -> str:
        return f"scalarsubquery({', '.join(_outer_references(e.this))})"

    def exists_sql(self, e: exp.Exists) -> str:
        if e.args.get("expression") is not None:  # exists(array, x -> ...), the function
            return self.call("exists", e.this, e.expression)
        return f"exists({', '.join(_outer_references(e.this))})"


_TYPE_NAMES = {
    DType.BOOLEAN: "BOOLEAN", DType.TINYINT: "TINYINT", DType.SMALLINT: "SMALLINT", DType.INT: "INT",
    DType.BIGINT: "BIGINT", DType.FLOAT: "FLOAT", DType.DOUBLE: "DOUBLE", DType.TEXT: "STRING",
    DType.VARCHAR: "VARCHAR", DType.CHAR: "CHAR", DType.BINARY: "BINARY", DType.VARBINARY: "BINARY",
    DType.DATE: "DATE", DType.TIMESTAMPTZ: "TIMESTAMP", DType.TIMESTAMP: "TIMESTAMP",
    DType.TIMESTAMPLTZ: "TIMESTAMP", DType.TIMESTAMPNTZ: "TIMESTAMP_NTZ", DType.NULL: "VOID",
    DType.VARIANT: "VARIANT", DType.TIME: "TIME",
}  # fmt: skip
_NUMERIC = (DType.TINYINT, DType.SMALLINT, DType.INT, DType.BIGINT, DType.FLOAT, DType.DOUBLE, DType.DECIMAL)
_DATETIME_LITERALS = (
    DType.DATE,
    DType.TIME,
    DType.TIMESTAMP,
    DType.TIMESTAMPTZ,
    DType.TIMESTAMPLTZ,
    DType.TIMESTAMPNTZ,
)


def _unit_name(e: exp.Expr) -> str:
    unit = e.args.get("unit")
    return str(unit.name).upper() if unit is not None else "DAY"


def _uncast(node: exp.Expr) -> exp.Expr:
    """A function's argument without the CAST sqlglot wrapped it in (one the user wrote has a `format` slot)."""
    return node.this if isinstance(node, exp.Cast) and "format" not in node.args else node


def _constant_text(node: exp.Expr) -> str | None:
    """The text of a string literal, or of literals joined by `||`."""
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    if isinstance(node, exp.DPipe):
        left, right = _constant_text(node.this), _constant_text(node.expression)
        return left + right if left is not None and right is not None else None
    return None


def _sources(node: exp.Expr) -> set[str] | None:
    """The names (tables and aliases) the SELECT around a node reads, or None when the node has no SELECT."""
    select = node.find_ancestor(exp.Select)
    if select is None:
        return None
    names: set[str] = set()
    for source in [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]:
        if source is None:
            continue
        for table in source.find_all(exp.Table, exp.Subquery, exp.Values):
            for name in (table.alias_or_name, table.name):
                if name:
                    names.add(str(name).lower())
    return names


def _named_window(e: exp.Window) -> exp.Window | None:
    """The definition of the window `OVER w` names, from the SELECT's WINDOW clause."""
    name = e.args.get("alias")
    if name is None or e.args.get("partition_by") or e.args.get("order"):
        return None
    select = e.find_ancestor(exp.Select)
    for window in (select.args.get("windows") or []) if select is not None else []:
        if window.alias_or_name.lower() == name.name.lower():
            return window
    return None


def _outer_references(query: exp.Expr) -> list[str]:
    """The columns a subquery takes from the query around it, which Spark lists in its name (`exists(a)`): those
    qualified by a table the subquery does not read, the arguments of its table functions, and unqualified ones
    that none of its sources has, where its sources' columns are known (CTEs, derived tables, VALUES, range())."""
    query = query.this if isinstance(query, exp.Subquery) else query
    ctes = {str(cte.alias).lower(): cte.this for cte in query.find_all(exp.CTE)}
    tables = {str(t.alias_or_name).lower() for t in query.find_all(exp.Table)}
    tables |= {str(s.alias).lower() for s in query.find_all(exp.Subquery, exp.Values) if s.alias}
    names: list[str] = []
    for select in query.find_all(exp.Select):
        known = _source_columns(select, ctes)
        columns = [c for c in select.find_all(exp.Column) if c.find_ancestor(exp.Select) is select]
        in_from = [c for c in columns if c.find_ancestor(exp.From, exp.Join) is not None]
        for column in [c for c in columns if c not in in_from] + in_from:  # Spark's plan lists FROM's last
            if column.table:
                outer = column.table.lower() not in tables
            elif column in in_from:
                outer = column.find_ancestor(exp.Table) is not None  # foo(c1): a table function's argument
            else:
                outer = known is not None and column.name.lower() not in known
            if outer and column.name not in names:
                names.append(column.name)
    return names


def _projected(select: exp.Select) -> set[str] | None:
    """The names a SELECT gives its columns, unless it has a `*`."""
    if any(isinstance(p, exp.Star) or isinstance(p.this, exp.Star) for p in select.expressions):
        return None
    return {str(p.alias_or_name).lower() for p in select.expressions}


def _source_columns(select: exp.Select, ctes: dict[str, exp.Expr]) -> set[str] | None:
    """The columns a SELECT's sources provide, when all of them are known (none: an empty set)."""
    sources = [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]
    columns: set[str] = set()
    for source in (s.this for s in sources if s is not None):
        alias = source.args.get("alias")
        if isinstance(alias, exp.TableAlias) and alias.columns:
            columns |= {str(c.name).lower() for c in alias.columns}
        elif isinstance(source, exp.Table) and isinstance(source.this, exp.Anonymous):
            if source.this.name.lower() != "range":
                return None
            columns.add("id")
        else:
            body = ctes.get(source.name.lower()) if isinstance(source, exp.Table) else source.this
            projected = _projected(body) if isinstance(body, exp.Select) else None
            if projected is None:
                return None
            columns |= projected
    return columns


# ---- literal values ----------------------------------------------------------------------------------------------
def _number(text: str) -> str:
    """A numeric literal as Spark shows its value: `07` -> 7, `1.50` -> 1.50, `1e10` (a DOUBLE) -> 1.0E10."""
    if re.fullmatch(r"\d+", text):
        return str(int(text))
    if "e" in text.lower():
        return _java_double(float(text))
    return _decimal(text)


def _decimal(text: str) -> str:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if int(value.as_tuple().exponent) > 0:
        return str(int(value))  # 1.23E+5BD: Spark takes no negative scale, 123000
    return str(abs(value) if value.is_zero() else value)  # Java's BigDecimal.toString: E below 1E-6, no -0


def _java_double(x: float) -> str:
    """Java's Double.toString: plain from 1e-3 to 1e7, else `1.0E10`."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(x)  # Python's repr is plain in that range, and as short as Java's digits
    value = Decimal(repr(abs(x))).normalize()
    digits = "".join(map(str, value.as_tuple().digits))
    return f"{'-' if x < 0 else ''}{digits[0]}.{digits[1:] or '0'}E{value.adjusted()}"


def _year(year: int) -> str:
    if year > 9999:
        return f"+{year}"
    return f"-{-year:04d}" if year < 0 else f"{year:04d}"


def _date_text(text: str) -> str:
    m = re.fullmatch(r"\s*([+-]?\d{4,7})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:[T ].*)?\s*", text)
    if not m:
        return text
    return f"{_year(int(m.group(1)))}-{int(m.group(2) or 1):02d}-{int(m.group(3) or 1):02d}"


def _time_text(text: str) -> str:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?\s*(AM|PM)?\s*", text, re.I)
    if not m:
        return text
    hour = int(m.group(1))
    if m.group(5):
        hour = hour % 12 + (12 if m.group(5).upper() == "PM" else 0)
    fraction = (m.group(4) or "").rstrip("0")
    return f"{hour:02d}:{int(m.group(2)):02d}:{int(m.group(3) or 0):02d}" + (f".{fraction}" if fraction else "")


_TIMESTAMP = re.compile(
    r"\s*([+-]?\d{4,7})(?:-(\d{1,2})(?:-(\d{1,2}))?)?"
    r"(?:[T ](\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d{0,9}))?)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d\d)?|[A-Za-z_]+/[A-Za-z_/]+)?\s*"
)


def _zone(name: str) -> tzinfo | None:
    if name in ("Z", "UTC", "GMT"):
        return timezone.utc
    if name[0] in "+-":
        digits = name[1:].replace(":", "")
        hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
        return timezone((-1 if name[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 (an unknown zone: the literal is shown as written)
        return None


def _timestamp_text(text: str, zone: str | None, nanos: str | None = None) -> str | None:
    """A TIMESTAMP literal's text as Spark prints its value, `yyyy-MM-dd HH:mm:ss[.ffffff]`, moved to `zone` when
    it names one of its own (`nanos`: the fraction digits, kept as written); None when it does not parse."""
    m = _TIMESTAMP.fullmatch(text)
    if not m:
        return None
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    hour, minute, second = int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0)
    micros = int((m.group(7) or "").ljust(6, "0")[:6] or 0)
    if m.group(8) and zone and 1 <= year <= 9999:
        source = _zone(m.group(8))
        if source is None:
            return None
        moment = datetime(year, month, day, hour, minute, second, micros, tzinfo=source).astimezone(ZoneInfo(zone))
        year, month, day = moment.year, moment.month, moment.day
        hour, minute, second = moment.hour, moment.minute, moment.second
    fraction = f".{micros:06d}".rstrip("0") if micros else ""
    if nanos is not None:
        fraction = f".{nanos}"
    return f"{_year(year)}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}{fraction}"


# ---- intervals ---------------------------------------------------------------------------------------------------
_DAY_TIME = ("DAY", "HOUR", "MINUTE", "SECOND")
_MICROS = {"WEEK": 7 * 86_400_000_000, "DAY": 86_400_000_000, "HOUR": 3_600_000_000, "MINUTE": 60_000_000,
           "SECOND": 1_000_000, "MILLISECOND": 1000, "MICROSECOND": 1}  # fmt: skip
_AS_DAY_TIME = {"WEEK": "DAY", "MILLISECOND": "SECOND", "MICROSECOND": "SECOND"}


def _unit(name: str) -> str:
    name = name.upper()
    return name[:-1] if name.endswith("S") else name


def _interval(e: exp.Interval) -> str:
    """An INTERVAL literal as Spark prints its value: `INTERVAL '3-1' YEAR TO MONTH`, `INTERVAL '02' SECOND`."""
    unit = e.args.get("unit")
    value = e.this
    negated = isinstance(value, exp.Neg)  # INTERVAL -'1' DAY
    value = value.this if negated else value
    text = str(value.this) if isinstance(value, exp.Literal) else value.sql() if value else ""
    if negated:
        text = text[1:] if text.startswith("-") else f"-{text}"
    if isinstance(unit, exp.IntervalSpan):
        start, end = _unit(unit.this.name), _unit(unit.expression.name)
    elif unit is not None:
        start = end = _unit(unit.name)
    else:  # INTERVAL '1 year 2 months'
        return _interval_words(text) or f"INTERVAL '{text}'"
    if not {start, end} <= {"YEAR", "MONTH", *_MICROS}:
        return f"INTERVAL '{text}' {start}" + (f" TO {end}" if end != start else "")
    if start in ("YEAR", "MONTH"):
        months = _year_month(text, start, end)
        return _year_month_text(months, start, end) if months is not None else f"INTERVAL '{text}' {start}"
    micros = _day_time(text, start, end)
    if micros is None:
        return f"INTERVAL '{text}' {start}" + (f" TO {end}" if end != start else "")
    return _day_time_text(micros, _AS_DAY_TIME.get(start, start), _AS_DAY_TIME.get(end, end))


def _year_month(text: str, start: str, end: str) -> int | None:
    m = re.fullmatch(r"\s*([+-])?\s*(\d+)(?:-(\d+))?\s*", text)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    if start == "YEAR" and end == "MONTH":
        return sign * (int(m.group(2)) * 12 + int(m.group(3) or 0))
    return sign * int(m.group(2)) * (12 if start == "YEAR" else 1)


def _year_month_text(months: int, start: str, end: str) -> str:
    sign = "-" if months < 0 else ""
    months = abs(months)
    if start == "YEAR" and end == "MONTH":
        return f"INTERVAL '{sign}{months // 12}-{months % 12}' YEAR TO MONTH"
    return f"INTERVAL '{sign}{months // 12 if start == 'YEAR' else months}' {start}"


def _day_time(text: str, start: str, end: str) -> int | None:
    m = re.fullmatch(r"\s*([+-])?\s*([\d:. ]+?)\s*", text)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    try:
        if start == end:
            return sign * int(Decimal(m.group(2)) * _MICROS[start])
        fields = _DAY_TIME[_DAY_TIME.index(start) : _DAY_TIME.index(end) + 1]
        parts = re.split(r"[ :]", m.group(2).strip())
        if len(parts) != len(fields):
            return None
        return sign * int(sum(Decimal(p) * _MICROS[f] for p, f in zip(parts, fields, strict=True)))
    except (InvalidOperation, ValueError):
        return None


def _day_time_text(micros: int, start: str, end: str) -> str:
    """Spark's IntervalUtils.toDayTimeIntervalString, ANSI style."""
    sign = "-" if micros < 0 else ""
    rest = abs(micros)
    fields = _DAY_TIME[_DAY_TIME.index(start) : _DAY_TIME.index(end) + 1]
    out = ""
    for i, field in enumerate(fields):
        if field == "SECOND":
            value = ("0" if rest < 10_000_000 else "") + format(Decimal(rest).scaleb(-6).normalize(), "f")
        else:
            amount, rest = divmod(rest, _MICROS[field])
            value = str(amount) if field == "DAY" else f"{amount:02d}"
        out += ("" if i == 0 else " " if fields[i - 1] == "DAY" else ":") + value
    qualifier = start if start == end else f"{start} TO {end}"
    return f"INTERVAL '{sign}{out}' {qualifier}"


def _interval_words(text: str) -> str | None:
    """`INTERVAL '1 year 2 months'` as Spark types it."""
    word = r"([+-]?\s*[\d.]+)\s*([A-Za-z]+)"
    text = re.sub(r"^\s*interval\s+", "", text, flags=re.I)
    pairs = re.findall(word, text)
    if not pairs or re.sub(word, "", text).strip():
        return None
    return _interval_from_parts([(number.replace(" ", ""), name) for number, name in pairs])


def _interval_parts(node: exp.Expr) -> list[tuple[str, str]]:
    """The (value, unit) parts of `INTERVAL 1 YEAR 2 MONTHS`, which sqlglot reads as a sum of intervals nested to the
    right (an explicit INTERVAL 1 YEAR + INTERVAL 2 MONTHS, nested to the left, is told apart from it but for two
    parts; there the string literals' positions tell, when they are quoted)."""
    parts: list[exp.Interval] = []
    while isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
        parts.append(node.this)
        node = node.expression
    if not parts or not isinstance(node, exp.Interval):
        return []
    parts.append(node)
    if any(not isinstance(p.this, exp.Literal) or not isinstance(p.args.get("unit"), exp.Var) for p in parts):
        return []
    starts = [p.this.meta.get("start") for p in parts]
    ends = [p.this.meta.get("end") for p in parts]
    for i in range(len(parts) - 1):
        end, start = ends[i], starts[i + 1]
        if isinstance(end, int) and isinstance(start, int) and start - end > len(parts[i].args["unit"].name) + 3:
            return []  # `+ INTERVAL` between them
    return [(str(p.this.this), str(p.args["unit"].name)) for p in parts]


def _interval_from_parts(parts: list[tuple[str, str]]) -> str | None:
    """A multi-unit interval, year-month or day-time by its units (Spark refuses a mix)."""
    if not parts:
        return None
    months, micros, units = 0, 0, []
    for number, name in parts:
        unit = _unit(name)
        if unit not in ("YEAR", "MONTH", *_MICROS):
            return None
        try:
            value = Decimal(re.sub(r"\s", "", number))
        except InvalidOperation:
            return None
        units.append(unit)
        if unit in ("YEAR", "MONTH"):
            months += int(value * (12 if unit == "YEAR" else 1))
        else:
            micros += int(value * _MICROS[unit])
    year_month = [u for u in units if u in ("YEAR", "MONTH")]
    if year_month and len(year_month) != len(units):
        return None
    if year_month:
        return _year_month_text(months, "YEAR" if "YEAR" in units else "MONTH", "MONTH" if "MONTH" in units else "YEAR")
    ranks = [_DAY_TIME.index(_AS_DAY_TIME.get(u, u)) for u in units]
    return _day_time_text(micros, _DAY_TIME[min(ranks)], _DAY_TIME[max(ranks)])
