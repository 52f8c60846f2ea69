"""Session variables, as Databricks SQL has them: DECLARE [OR REPLACE] VARIABLE, SET VARIABLE, DROP TEMPORARY
VARIABLE, and references to them (`var`, `session.var`, `system.session.var`) in queries. A value is computed once,
by the engine itself (so Spark's casts apply), and kept as a typed literal; a reference becomes that literal."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from .common import Result
from .errors import LocalSQLError, unsupported
from .functions import blanked
from .params import literal

_NAME = r"((?:`[^`]+`|\w+)(?:\s*\.\s*(?:`[^`]+`|\w+)){0,2})"
_DECLARE = re.compile(
    rf"DECLARE\s+(OR\s+REPLACE\s+)?(?:(?:VARIABLE|VAR)\s+)?(IF\s+NOT\s+EXISTS\s+)?{_NAME}(?:\s+(.*?))?"
    r"(?:\s*(?:\bDEFAULT\b|=)\s*(.+))?",
    re.I | re.S,
)
_SET = re.compile(r"SET\s+(?:VARIABLE|VAR)\s+(.+)", re.I | re.S)
_DROP = re.compile(rf"DROP\s+(TEMPORARY\s+)?(?:VARIABLE|VAR)\s+(IF\s+EXISTS\s+)?{_NAME}", re.I | re.S)
_PIPE_WORDS = {"select", "extend", "set", "drop", "as", "where", "limit", "offset", "aggregate", "join", "order",
               "union", "intersect", "except", "tablesample", "pivot", "unpivot", "window"}  # fmt: skip
_PLAIN_TYPES = ("VOID", "NULL", "BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL", "STRING", "DATE",
                "TIMESTAMP", "TIMESTAMP_NTZ", "CHAR", "VARCHAR")  # fmt: skip


@dataclass
class Variable:
    name: str
    type: exp.DataType
    default: str  # the DEFAULT expression's SQL, for SET VARIABLE v = DEFAULT
    value: Any = None
    refused: str | None = None  # why its last assignment was refused: its value is not Databricks' now

    def reference(self) -> exp.Expr:
        """The variable's value as a typed literal."""
        if self.refused is not None:
            raise unsupported(f"the session variable `{self.name}`, whose last assignment was refused ({self.refused})")
        if self.type.this == exp.DataType.Type.NULL:
            return exp.null()
        return exp.Cast(this=literal(self.value), to=self.type.copy())


def _name(text: str) -> str:
    """A variable's name from `v`, `session.v` or `system.session.v` (any case); other qualifiers are an error."""
    parts = [p.strip().strip("`").lower() for p in text.split(".")]
    if len(parts) > 1 and parts[:-1] not in (["session"], ["system", "session"]):
        raise LocalSQLError(
            "UNRESOLVED_VARIABLE", f"Cannot resolve the variable `{text}`: qualify it as session. or system.session.",
            "42883",
        )  # fmt: skip
    return parts[-1]


Parameters = Mapping[str, Any] | Sequence[Any] | None
Run = Callable[[str, Parameters], Result]


class SessionVariables:
    """The session's variables; `run(sql, parameters)` runs a statement on the session's engine."""

    def __init__(self, run: Run):
        self.run = run
        self.variables: dict[str, Variable] = {}
        self.parameters: Parameters = None  # the statement's own (SET VARIABLE v = ? run by EXECUTE IMMEDIATE)

    def evaluate(self, sql: str) -> pa.Table:
        table = self.run(sql, None).table
        assert table is not None  # a query
        return table

    def statement(self, body: str, parameters: Parameters = None) -> Result | None:
        """DECLARE / SET VARIABLE / DROP TEMPORARY VARIABLE / EXECUTE IMMEDIATE, or None for any other statement."""
        self.parameters = parameters
        if re.match(r"EXECUTE\s+IMMEDIATE\b", body, re.I):
            rest = re.sub(r"^EXECUTE\s+IMMEDIATE\s+", "", body, flags=re.I)
            into = _clauses(rest, ("INTO", "USING")).get("INTO", "")
            return self._refusals_kept(self._targets(f"({into.strip('()')}) = ()") if into else [],
                                       lambda: self._execute_immediate(rest))  # fmt: skip
        if m := _DROP.fullmatch(body):
            return self._drop(m)
        if m := _SET.fullmatch(body):
            assignments = m.group(1)
            return self._refusals_kept(self._targets(assignments), lambda: self._set(assignments))
        if re.match(r"DECLARE\b", body, re.I):
            m = _DECLARE.fullmatch(body)
            if m is None or m.group(2):
                raise LocalSQLError("PARSE_SYNTAX_ERROR", f"Syntax error in {body!r}.", "42601")
            name = _name(m.group(3))
            return self._refusals_kept([name] if m.group(1) else [], lambda: self._declare(m))
        return None

    def _refusals_kept(self, names: list[str], assign: Callable[[], Result]) -> Result:
        """Run an assignment; where the engine refuses it (Databricks would not), its targets are marked, so that
        a later reference is refused too instead of answering with the value from before."""
        try:
            return assign()
        except Exception as e:
            for name in names:  # also after an error Spark may share: a refusal is allowed, another value is not
                if name in self.variables:
                    self.variables[name].refused = str(e).split(". ")[0][:120]
            raise

    def _targets(self, assignments: str) -> list[str]:
        """The names a SET VARIABLE assigns (best effort: for marking them when it is refused)."""
        tuple_form = re.fullmatch(r"\((.+?)\)\s*=.*", assignments.strip(), re.S)
        items = tuple_form.group(1).split(",") if tuple_form else [i.partition("=")[0] for i in _split_top(assignments)]
        names = []
        for item in items:
            try:
                names.append(_name(item))
            except LocalSQLError:
                continue
        return names

    def _declare(self, m: re.Match[str]) -> Result:
        name, type_sql, default = _name(m.group(3)), (m.group(4) or "").strip(), (m.group(5) or "").strip()
        if name in self.variables and not m.group(1):
            raise LocalSQLError(
                "VARIABLE_ALREADY_EXISTS",
                f"Cannot create the variable `system`.`session`.`{name}` because it already exists. Choose a "
                "different name, or drop or replace the existing variable.",
                "42723",
            )
        if not type_sql and not default:
            raise LocalSQLError("PARSE_SYNTAX_ERROR", "DECLARE VARIABLE needs a type or a DEFAULT.", "42601")
        if re.search(r"\bSELECT\b", default, re.I):
            raise LocalSQLError("INVALID_DEFAULT_VALUE.SUBQUERY_EXPRESSION",
                                f"The DEFAULT of `{name}` cannot contain a subquery.", "42623")  # fmt: skip
        expression = default or "NULL"
        if type_sql:
            try:
                declared = exp.DataType.build(type_sql, dialect="databricks")
            except Exception:  # noqa: BLE001 - not a type: Spark's parser says so
                raise LocalSQLError("PARSE_SYNTAX_ERROR", f"Syntax error at or near {type_sql!r}.", "42601") from None
        else:
            typed = self.evaluate(f"SELECT typeof({expression}) AS type").column(0)[0].as_py()
            declared = exp.DataType.build(typed, dialect="databricks")
        if declared.this.name not in _PLAIN_TYPES and declared.sql("databricks").split("(")[0] not in _PLAIN_TYPES:
            raise unsupported(f"session variables of type {declared.sql('databricks')}")
        variable = Variable(name, declared, expression)
        variable.value = self._value(variable, expression)
        self.variables[name] = variable
        return Result()

    def _value(self, variable: Variable, expression: str) -> Any:
        if variable.type.this == exp.DataType.Type.NULL:
            return None
        cast = f"CAST(({expression}) AS {variable.type.sql('databricks')})"
        table = self.run(f"SELECT {cast} AS value", self.parameters).table
        assert table is not None  # a query
        return table.column(0)[0].as_py()

    def _set(self, assignments: str) -> Result:
        tuple_form = re.fullmatch(r"\((.+?)\)\s*=\s*(\(.+\))", assignments.strip(), re.S)
        if tuple_form:
            names = [_name(n) for n in tuple_form.group(1).split(",")]
            targets = [self._get(n) for n in names]
            query = tuple_form.group(2).strip()[1:-1]
            if re.search(r"\bDEFAULT\b", query, re.I):
                raise unsupported("SET VARIABLE (...) = (SELECT DEFAULT ...)")
            self._assign_row(targets, self.evaluate(query))
            return Result()
        pairs = []
        for item in _split_top(assignments):
            target, _, expression = item.partition("=")
            if not expression.strip():
                raise LocalSQLError("PARSE_SYNTAX_ERROR", f"Syntax error in SET VARIABLE {item!r}.", "42601")
            pairs.append((self._get(_name(target)), expression.strip()))
        if len({v.name for v, _ in pairs}) != len(pairs):
            raise LocalSQLError("DUPLICATE_ASSIGNMENTS", "The variables assigned are not unique.", "42701")
        values = [self._value(v, v.default if e.upper() == "DEFAULT" else e) for v, e in pairs]  # all, then assign
        for (variable, _), value in zip(pairs, values, strict=True):
            variable.value, variable.refused = value, None
        return Result()

    def _execute_immediate(self, rest: str) -> Result:
        """EXECUTE IMMEDIATE text [INTO v, ...] [USING value [AS name], ...]: the text (a string expression) run
        as a statement with the values bound as its parameters; INTO assigns a query's one row to variables."""
        clauses = _clauses(rest, ("INTO", "USING"))
        text = self.evaluate(f"SELECT {clauses['']} AS statement")
        statement = text.column(0)[0].as_py() if text.num_rows else None
        if not isinstance(statement, str):
            raise LocalSQLError(
                "INVALID_EXPR_TYPE_FOR_QUERY_EXECUTE_IMMEDIATE",
                f"The statement to execute ({clauses['']}) must be a STRING that is not NULL.",
                "42K09",
            )
        parameters: dict[str, Any] | list[Any] | None = None
        if "USING" in clauses:
            items = [re.fullmatch(r"(.+?)(?:\s+AS\s+(\w+))?", i, re.I | re.S) for i in _split_top(clauses["USING"])]
            named = [m.group(2) for m in items if m is not None and m.group(2)]
            if named and len(named) != len(items):
                raise LocalSQLError("INVALID_QUERY_MIXED_QUERY_PARAMETERS",
                                    "Parameterized query must either use positional, or named parameters, but not both.",
                                    "42613")  # fmt: skip
            if len(set(n.lower() for n in named)) != len(named):
                raise LocalSQLError("ALL_PARAMETERS_MUST_BE_NAMED", "Each parameter is named once.", "07001")
            bound_values: list[exp.Expr] = []
            for m in items:
                assert m is not None
                if re.search(r"\bSELECT\b", blanked(m.group(1)), re.I):
                    raise LocalSQLError("UNSUPPORTED_EXPR_FOR_PARAMETER", "A query parameter cannot be a subquery.",
                                        "42K0E")  # fmt: skip
                row = self.evaluate(f"SELECT {m.group(1)} AS value, typeof({m.group(1)}) AS type")
                value, typed = row.column(0)[0].as_py(), row.column(1)[0].as_py()
                if typed not in ("void",) and typed.split("(")[0].upper() not in _PLAIN_TYPES:
                    raise unsupported(f"EXECUTE IMMEDIATE ... USING a value of type {typed}")
                kind = exp.DataType.build(typed, dialect="databricks") if typed != "void" else None
                bound: exp.Expr = exp.Cast(this=literal(value), to=kind) if kind is not None else exp.null()
                bound_values.append(bound)
            parameters = dict(zip(named, bound_values, strict=True)) if named else bound_values
        result = self.run(statement.strip().rstrip(";").strip(), parameters)
        if "INTO" not in clauses:
            return result
        targets = [self._get(_name(n)) for n in _split_top(clauses["INTO"].strip().strip("()"))]
        self._assign_row(targets, result.table)
        return Result()

    def _assign_row(self, targets: list[Variable], rows: pa.Table | None) -> None:
        """A query's one row (none: NULLs) assigned to `targets`, each value cast to its variable's type."""
        if len({t.name for t in targets}) != len(targets):
            raise LocalSQLError("DUPLICATE_ASSIGNMENTS", "The variables assigned are not unique.", "42701")
        if rows is None or rows.num_columns != len(targets):
            raise LocalSQLError("ASSIGNMENT_ARITY_MISMATCH", "The number of columns or variables assigned "
                                "does not match the number of values.", "42802")  # fmt: skip
        if rows.num_rows > 1:
            raise LocalSQLError("ROW_SUBQUERY_TOO_MANY_ROWS", "More than one row returned by a subquery used as a "
                                "row.", "21000")  # fmt: skip
        values = [rows.column(i)[0].as_py() if rows.num_rows else None for i in range(len(targets))]
        computed = [self._value(t, _sql_of(v)) if v is not None else None for t, v in zip(targets, values, strict=True)]
        for variable, value in zip(targets, computed, strict=True):
            variable.value, variable.refused = value, None

    def _drop(self, m: re.Match[str]) -> Result:
        if not m.group(1):
            raise LocalSQLError(
                "PARSE_SYNTAX_ERROR", "DROP VARIABLE needs TEMPORARY: DROP TEMPORARY VARIABLE.", "42601"
            )
        name = _name(m.group(3))
        if name not in self.variables:
            if m.group(2):
                return Result()
            raise self._missing(name)
        del self.variables[name]
        return Result()

    def _get(self, name: str) -> Variable:
        if name not in self.variables:
            raise self._missing(name)
        return self.variables[name]

    @staticmethod
    def _missing(name: str) -> LocalSQLError:
        return LocalSQLError(
            "VARIABLE_NOT_FOUND", f"The variable `system`.`session`.`{name}` cannot be found.", "42883"
        )

    # references
    def referenced(self, query: exp.Expr, columns_of: Callable[[exp.Select], set[str] | None]) -> list[str]:
        """The variables `query` refers to (a view that is kept may not: INVALID_TEMP_OBJ_REFERENCE)."""
        return [v.name for _, v in self._references(query, columns_of)]

    def substitute(self, query: exp.Expr, columns_of: Callable[[exp.Select], set[str] | None]) -> None:
        """Each reference to a variable in `query` replaced by its value. An unqualified name is a column when a
        source of its SELECT has that column (`columns_of`: the source columns, None if not known), else a
        variable; where the sources are not known, it is refused."""
        for column, variable in self._references(query, columns_of):
            value = variable.reference()
            if isinstance(column.parent, exp.Select) and column.arg_key == "expressions":
                value = exp.alias_(value, exp.to_identifier(column.name, quoted=True))  # named as written
            elif (
                _in_projection(column) and (alias := column.find_ancestor(exp.Alias)) and alias.meta.get("spark_named")
            ):
                raise unsupported(
                    f"the name of an unaliased expression over the session variable `{variable.name}` (Spark names "
                    "it variablereference(...)): name it with AS"
                )
            if isinstance(column.parent, exp.BitwiseOr) and variable.name in _PIPE_WORDS:
                raise unsupported(f"`| {variable.name}`: a pipe operator in Spark, not an OR with the variable")
            column.replace(value)

    def _references(
        self, query: exp.Expr, columns_of: Callable[[exp.Select], set[str] | None]
    ) -> list[tuple[exp.Column, Variable]]:
        found: list[tuple[exp.Column, Variable]] = []
        for column in list(query.find_all(exp.Column)) if self.variables else []:
            parts = [p.name.lower() for p in column.parts]
            if len(parts) > 1 and parts[:-1] not in (["session"], ["system", "session"]):
                continue
            variable = self.variables.get(parts[-1])
            if variable is None or (len(parts) == 1 and not self._is_variable(column, columns_of)):
                continue
            found.append((column, variable))
        return found

    @staticmethod
    def _is_variable(column: exp.Column, columns_of: Callable[[exp.Select], set[str] | None]) -> bool:
        select = column.find_ancestor(exp.Select)
        while select is not None:
            names = columns_of(select)
            if names is None:
                raise unsupported(
                    f"a reference to `{column.name}`, a session variable's name, where the query's sources are "
                    "not tables (it could name their column); qualify it as session." + column.name
                )
            if column.name.lower() in names:
                return False
            select = select.find_ancestor(exp.Select)  # an outer query's column (correlation)
        return True


def _in_projection(node: exp.Expr) -> bool:
    """Whether `node` is inside one of its SELECT's output expressions."""
    while node.parent is not None and not isinstance(node.parent, exp.Select):
        node = node.parent
    return node.arg_key == "expressions"


def _top_level(text: str) -> list[int]:
    """The positions in `text` outside quotes and parentheses."""
    found, depth = [], 0
    for i, ch in enumerate(blanked(text)):  # a quoted string or name is its quote repeated
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch not in "()'\"`":
            found.append(i)
    return found


def _split_top(text: str) -> list[str]:
    """`a = 1, b = f(2, 3)` split at the commas outside parentheses and quotes."""
    cuts = [i for i in _top_level(text) if text[i] == ","]
    parts = [text[a + 1 : b] for a, b in zip([-1, *cuts], [*cuts, len(text)], strict=True)]
    return [p.strip() for p in parts if p.strip()]


def _clauses(text: str, keywords: tuple[str, ...]) -> dict[str, str]:
    """`text` cut at the keywords (outside quotes and parentheses): {"": the head, keyword: its clause}."""
    cuts = [
        (i, keyword)
        for i in _top_level(text)
        if i == 0 or text[i - 1].isspace()
        for keyword in keywords
        if text[i : i + len(keyword)].upper() == keyword and text[i + len(keyword) : i + len(keyword) + 1].strip() == ""
    ]
    found, start, name = {}, 0, ""
    for at, keyword in cuts:
        found[name] = text[start:at].strip()
        start, name = at + len(keyword), keyword
    found[name] = text[start:].strip()
    return found


def _sql_of(value: Any) -> str:
    """A query's answer as a SQL literal (bound as an AST node, never pasted)."""
    return literal(value).sql("databricks")
