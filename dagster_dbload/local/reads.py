"""Queries: Databricks SQL to DuckDB SQL, table and file sources, Databricks' answers where DuckDB differs."""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from . import changes, decimals, naming, semantics
from .catalog import TableMeta, check_name, quote_dbx
from .columns import dbx_type
from .common import Result, no_catalog, table_arg
from .context import USER, Context
from .datetimes import parse_date, parse_timestamp
from .errors import DIVIDE_BY_ZERO, LocalSQLError, table_not_found, unsupported
from .functions import refused
from .listings import base_type, information_schema

EXPORT_MEMORY = "256MB"  # a streamed read's bound on DuckDB's buffers, whatever the table's size


class Reads:
    """SELECT and the sources every statement reads."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._looked_up: dict[str, TableMeta | None] = {}  # the query's tables, each read from the catalog once
        self._bound: dict[int, dict[str, str] | None] = {}  # its FROM items' column types

    def to_duckdb(self, query: exp.Expr, target: TableMeta | None = None) -> str:
        """DuckDB SQL for a Databricks query (or a DELETE's condition on `target`): tables renamed to their
        DuckDB homes, file sources readable."""
        saved = self._looked_up, self._bound  # a FROM item's types are bound by a nested call
        try:
            return self._to_duckdb(query, target)
        finally:
            self._looked_up, self._bound = saved

    def _to_duckdb(self, query: exp.Expr, target: TableMeta | None) -> str:
        query = query.copy()
        self._looked_up, self._bound = {}, {}
        query = _values_named(query)
        for group in query.find_all(exp.Group):  # GROUP BY a, b WITH CUBE is GROUP BY CUBE(a, b)
            for kind, node in (("cube", exp.Cube), ("rollup", exp.Rollup)):
                bare = group.args.get(kind) or []
                if len(bare) == 1 and not bare[0].expressions and group.expressions:
                    group.set(kind, [node(expressions=list(group.expressions))])
                    group.set("expressions", [])
        self._expand_set_operands(query)
        for select in query.find_all(exp.Select):  # columns named as Databricks names them, before any is lowered
            _refuse_outer_names(select)
            self._refuse_all_column(select)
            select.set("expressions", [_named(e, self.ctx.time_zone) for e in select.expressions])
        if self.ctx.variables is not None:
            self.ctx.variables.substitute(query, self.source_columns)
        query = self._datetime_comparisons(query, target)
        settings = semantics.Settings(
            ansi=self.ctx.ansi_mode,
            precision_loss=self.ctx.decimal_precision_loss,
            cte_precedence=self.ctx.settings.get("spark.sql.legacy.cteprecedencepolicy", "corrected").lower(),
        )
        semantics.annotate(query, lambda column: self._column_type(column, target), settings)
        # `query` is this call's own copy: the transforms and the generator work on it in place
        query = self._with_sources(query).transform(semantics.keeping_types(self._databricks_semantics), copy=False)
        query = semantics.lower(query, settings)
        return query.transform(self._guard_divisor, copy=False).sql("duckdb", copy=False)  # every divisor

    def _datetime_comparisons(self, query: exp.Expr, target: TableMeta | None) -> exp.Expr:
        """`ts = '2026-12-05 03:59:55 +0000'`, `d BETWEEN '2024' AND '2025-06'`: a string compared with a DATE or
        TIMESTAMP column is read as Databricks reads it into the column's type (DuckDB's implicit cast refuses
        ` +0000` and reads other forms otherwise). Only where the column's table is certain."""
        for literal in list(query.find_all(exp.Literal)):
            compared = _compared_column(literal)
            if compared is None:
                continue
            column_type = self._column_type(compared, target)
            if column_type is not None and base_type(column_type) in ("date", "timestamp", "timestamp_ntz"):
                typed = self._datetime_literal(literal.name, exp.DataType.build(column_type, dialect="databricks"))
                literal.replace(typed)
        return query

    def _column_type(self, column: exp.Column, target: TableMeta | None) -> str | None:
        """The type of `column` when one source of its SELECT (or the DELETE's `target`) certainly holds it: a
        table's or view's from the catalog, a subquery's, VALUES' or a CTE's as DuckDB binds it (their columns are
        Spark-typed by the rules); None when a source's columns are not known, or it is not found."""
        select = column.find_ancestor(exp.Select)
        if select is None:
            tables = {target.name.lower(): {c.name.lower(): c.type for c in target.columns}} if target else {}
        else:
            tables = {}
            for item in _from_items(select):
                found = self._source_types(item)
                if found is None:
                    return None
                tables[item.alias_or_name.lower()] = found
        if column.table:
            candidates = [tables[column.table.lower()]] if column.table.lower() in tables else []
        else:
            candidates = list(tables.values())
        types = {t for names in candidates if (t := names.get(column.name.lower())) is not None}
        return types.pop() if len(types) == 1 and "" not in types else None

    def _source_types(self, source: exp.Expr) -> dict[str, str] | None:
        """A FROM item's column types by name ("" for a name it holds twice), once per query; None if unknown."""
        key = id(source)
        if key in self._bound:
            return self._bound[key]
        query: exp.Expr | None = None
        found: dict[str, str] | None = None
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
            meta = self._lookup(source)
            if meta is not None:
                found = {c.name.lower(): c.type for c in meta.columns}
            elif not source.db and (cte := _cte_named(source, source.name)) is not None:
                query = cte.this.copy()
        elif isinstance(source, exp.Subquery) and isinstance(source.this, exp.Query):
            query = source.this.copy()
        elif isinstance(source, exp.Values):
            query = exp.select("*").from_(source.copy())
        if query is not None:
            try:
                schema = self.source_schema(query)  # binds it (a correlated or recursive source cannot be: unknown)
            except Exception:  # noqa: BLE001 - unknown, as before
                schema = None
            if schema is not None:
                found = {}
                for field in schema:
                    name = field.name.lower()
                    found[name] = "" if name in found else dbx_type(field)
        self._bound[key] = found
        return found

    def _expand_set_operands(self, query: exp.Expr) -> None:
        """`SELECT * FROM t` as an operand of UNION/INTERSECT/EXCEPT: its columns written out, so that their types
        are known and widened as Spark widens them."""
        for operation in list(query.find_all(exp.SetOperation)):
            for operand in (operation.this, operation.expression):
                source = operand.args.get("from_") if isinstance(operand, exp.Select) else None
                if source is None or operand.args.get("joins") or [type(e) for e in operand.expressions] != [exp.Star]:
                    continue
                meta = self._lookup(source.this) if isinstance(source.this, exp.Table) else None
                if meta is not None and meta.columns:
                    operand.set("expressions", [exp.column(c.name, quoted=True) for c in meta.columns])

    def _refuse_all_column(self, select: exp.Select) -> None:
        """GROUP BY ALL / ORDER BY ALL over a source with a column named `all`: Spark groups or sorts by it."""
        group, order = select.args.get("group"), select.args.get("order")
        by_all = (group is not None and group.args.get("all")) or (
            order is not None
            and any(isinstance(o.this, exp.Var) and o.this.name.upper() == "ALL" for o in order.expressions)
        )
        if not by_all:
            return
        aliases = {e.alias.lower() for e in select.expressions if isinstance(e, exp.Alias)}
        if "all" in aliases:
            raise refused("GROUP BY ALL or ORDER BY ALL in a SELECT with a column aliased `all`")
        written = [e.this if isinstance(e, exp.Alias) else e for e in select.expressions]
        if group is not None and any(
            c.name.lower() in aliases and not c.table for e in written for c in e.find_all(exp.Column)
        ):
            raise LocalSQLError(
                "UNSUPPORTED_FEATURE.LATERAL_COLUMN_ALIAS_IN_GROUP_BY",
                "Referencing a lateral column alias via GROUP BY alias/ALL is not supported yet.",
                "0A000",
            )
        for item in _from_items(select):
            meta = self._lookup(item) if isinstance(item, exp.Table) else None
            if meta is None or meta.column("all") is not None:
                raise refused("GROUP BY ALL or ORDER BY ALL where a source may have a column named `all`")

    def source_columns(self, select: exp.Select) -> set[str] | None:
        """The column names a SELECT's sources have (none without FROM); None where a source is not a table."""
        names: set[str] = set()
        for item in _from_items(select):
            meta = self._lookup(item) if isinstance(item, exp.Table) else None
            if meta is None or not isinstance(item.this, exp.Identifier):
                return None
            names |= {c.name.lower() for c in meta.columns}
        return names

    def _lookup(self, table: exp.Table) -> TableMeta | None:
        """The table or view `table` names, once per query; None if there is none."""
        key = table.sql("databricks")
        if key not in self._looked_up:
            try:
                self._looked_up[key] = self.ctx.lookup(table)
            except LocalSQLError:
                self._looked_up[key] = None
        return self._looked_up[key]

    def _with_sources(self, query: exp.Expr) -> exp.Expr:
        """`query` with each table, view, information_schema view and file source replaced by what DuckDB reads."""
        ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
        for table in list(query.find_all(exp.Table)):
            source = self._source(table, ctes)
            if source is not None and table.args.get("pivots"):
                source = exp.Subquery(this=exp.select("*").from_(source), pivots=table.args["pivots"])
            if source is not None:
                if table is query:
                    return source
                table.replace(source)
        for lateral in list(query.find_all(exp.Lateral)):  # LATERAL range(3)
            if isinstance(lateral.this, exp.Anonymous) and lateral.this.name.lower() == "range":
                lateral.set("this", _range(lateral.this, None))
        return query

    def _databricks_semantics(self, node: exp.Expr) -> exp.Expr:
        """Where DuckDB would answer differently from Databricks: session functions, date_add's DATE, the
        time zone of TIMESTAMP(x) / to_timestamp(x); operators and built-in functions are lowered after, by
        semantics.py (with functions.py's rewrites), and every divisor is guarded last."""
        if isinstance(node, exp.CurrentCatalog):
            return exp.Literal.string(self.ctx.current_catalog)
        if isinstance(node, (exp.CurrentSchema, exp.CurrentDatabase)):
            return exp.Literal.string(self.ctx.current_schema)
        if isinstance(node, exp.JSONFormat):  # to_json(x) is a STRING; DuckDB's JSON results stand for VARIANT
            return exp.cast(node, exp.DataType.build("VARCHAR"))
        if isinstance(node, exp.Anonymous) and node.name.lower() == "raise_error" and len(node.expressions) == 1:
            message = exp.DPipe(this=exp.Literal.string("[USER_RAISED_EXCEPTION] "), expression=node.expressions[0])
            return exp.Anonymous(this="error", expressions=[message])
        if isinstance(node, (exp.CurrentUser, exp.SessionUser)) or (
            isinstance(node, exp.Anonymous) and node.name.lower() == "user" and not node.expressions
        ):
            return exp.Literal.string(USER)
        if isinstance(node, (exp.Like, exp.ILike)) and not isinstance(node.parent, exp.Escape):
            return exp.Escape(this=node, expression=exp.Literal.string("\\"))  # Databricks' default escape
        if isinstance(node, exp.TsOrDsAdd):  # date_add(start, days) is a DATE on Databricks
            return exp.cast(node, exp.DataType.build("DATE"))
        if isinstance(node, exp.TsOrDsToDate) and not node.args.get("format"):  # to_date(x)
            node = exp.cast(node.this, exp.DataType.build("DATE"))
        if (
            isinstance(node, exp.Cast)
            and node.to.this == exp.DataType.Type.TEXT
            and isinstance(node.this, exp.JSONExtract)
            and node.this.args.get("variant_extract")
        ):  # v:a::string is the string's value (DuckDB's cast of JSON keeps its quotes), or an object's JSON text
            return exp.JSONExtractScalar(this=node.this.this, expression=node.this.expression)
        if (
            isinstance(node, exp.Cast)
            and node.to.this == exp.DataType.Type.TEXT
            and not isinstance(node.this, exp.Literal)
        ):
            return semantics.as_string(node.this)
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
            literal = self._datetime_literal(node.this.name, node.to)
            if literal is not None:
                return literal
        if (
            isinstance(node, exp.Cast)
            and node.to.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ)
            and decimals.literal_type(node.this) is not None
        ):  # CAST(1700000000 AS TIMESTAMP): seconds since the epoch, fractions kept to the microsecond
            return exp.Anonymous(this="to_timestamp", expressions=[exp.cast(node.this, "DOUBLE")])
        if isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ):
            # TIMESTAMP(x) and to_timestamp(x) are Databricks TIMESTAMPs (local time zone)
            return exp.Cast(this=node.this, to=exp.DataType.build("TIMESTAMPTZ"))
        if isinstance(node, exp.StrToTime):  # to_timestamp(x, fmt): read in the session time zone (UTC)
            return exp.cast(node, exp.DataType.build("TIMESTAMPTZ"))
        if isinstance(node, exp.Column) and node.args.get("db"):  # catalog.schema.table.column -> table.column
            node.set("db", None)
            node.set("catalog", None)
        return node

    def _guard_divisor(self, node: exp.Expr) -> exp.Expr:
        """A zero divisor of /, div and % is `[DIVIDE_BY_ZERO]` under ANSI mode, else NULL (DuckDB: inf or an
        error of its own). The same node is returned: transform goes on into the new divisor."""
        if isinstance(node, (exp.Div, exp.IntDiv, exp.Mod)):
            divisor = node.expression
            zero = exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0))
            error = (
                exp.Anonymous(this="error", expressions=[exp.Literal.string(DIVIDE_BY_ZERO)])
                if self.ctx.ansi_mode
                else exp.null()
            )
            node.set("expression", exp.Case(ifs=[exp.If(this=zero, true=error)], default=divisor))
        return node

    def _datetime_literal(self, text: str, to: exp.DataType) -> exp.Expr | None:
        """A string literal cast to DATE / TIMESTAMP[_NTZ], read as Databricks reads it; malformed text is
        `[CAST_INVALID_INPUT]` under ANSI mode, else NULL. None for other casts."""
        T = exp.DataType.Type
        if to.this == T.DATE:
            value = parse_date(text)
            kind, shown = "DATE", value.isoformat() if value else None
        elif to.this in (T.TIMESTAMP, T.TIMESTAMPTZ, T.TIMESTAMPNTZ, T.TIMESTAMPLTZ):
            if re.search(r"[.,]\d{7,}", text):
                raise refused("a TIMESTAMP with nanoseconds (DuckDB keeps microseconds)")
            try:
                parsed = parse_timestamp(text)
            except ValueError:
                parsed = None
            ntz = to.this == T.TIMESTAMPNTZ
            kind = "TIMESTAMP" if ntz else "TIMESTAMPTZ"
            if parsed is None:
                shown = None
            else:
                value, zoned = parsed
                if zoned and ntz:
                    value = value.replace(tzinfo=None)
                shown = value.isoformat(sep=" ")
        else:
            return None
        if shown is None:
            if self.ctx.ansi_mode:
                raise LocalSQLError(
                    "CAST_INVALID_INPUT",
                    f'The value \'{text}\' of the type "STRING" cannot be cast to "{to.sql("databricks")}" because '
                    "it is malformed. Correct the value as per the syntax, or change its target type. Use `try_cast` "
                    "to tolerate malformed input and return NULL instead.",
                    "22018",
                )
            return exp.cast(exp.null(), exp.DataType.build(kind))
        return exp.cast(exp.Literal.string(shown), exp.DataType.build(kind))

    def _source(self, table: exp.Table, ctes: set[str]) -> exp.Expr | None:
        alias = table.args.get("alias")
        if table.args.get("version") is not None:
            self._current_version_only(table)
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == "range":
            return _range(table.this, alias)
        if isinstance(table.this, exp.Explode):
            return _exploded(table.this, alias)
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == "read_files":
            return self._read_files(table.this, alias)
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == "table_changes":
            return self._table_changes(table.this, alias)
        if table.db.lower() == "parquet" and not table.catalog:
            return self.parquet_source(self.ctx.files.list_files(table.name), alias)
        if isinstance(table.this, exp.Func) or (not table.db and table.name.lower() in ctes):
            return None
        if table.db.lower() == "information_schema":
            return self._information_schema(table, alias)
        meta = self.ctx.lookup(table)
        if meta.is_view:
            assert meta.view_text is not None  # a view is made with its query
            view = self._with_sources(_values_named(sqlglot.parse_one(meta.view_text, read="databricks")))
            return exp.Subquery(
                this=view, alias=alias or exp.TableAlias(this=exp.to_identifier(table.name, quoted=True))
            )
        if not meta.columns:
            raise LocalSQLError(
                "DELTA_READ_TABLE_WITHOUT_COLUMNS",
                f"You are trying to read a Delta table {meta.display} that does not have any columns.",
                "428GU",
            )
        return exp.Table(
            this=exp.to_identifier(meta.name, quoted=True),
            db=exp.to_identifier(f"{meta.catalog}.{meta.schema}", quoted=True),
            alias=alias or exp.TableAlias(this=exp.to_identifier(table.name, quoted=True)),
        )

    def _current_version_only(self, table: exp.Table) -> None:
        """`VERSION AS OF` the table's current version reads it; any other time travel is refused."""
        version = table.args["version"]
        value = version.args.get("expression")
        if version.name.upper() == "VERSION" and isinstance(value, exp.Literal) and not value.is_string:
            bare = table.copy()
            bare.set("version", None)
            meta = self.ctx.lookup(bare)
            if not meta.is_view and int(value.this) == meta.version:
                return
        raise LocalSQLError(
            "UNSUPPORTED_FEATURE.TIME_TRAVEL",
            f"Time travel ({version.sql('databricks')}) is not supported by the local SQL warehouse: it keeps only "
            "each table's current version (DESCRIBE HISTORY lists the versions).",
            "0A000",
        )

    def _information_schema(self, table: exp.Table, alias: exp.Expr | None) -> exp.Expr:
        catalog = check_name(table.catalog or self.ctx.current_catalog, "catalog")
        if catalog.lower() == "system" and not self.ctx.meta.catalog_exists(
            catalog
        ):  # every catalog's, as on Databricks
            catalogs = self.ctx.meta.catalogs()[:1] if table.name.lower() == "catalogs" else self.ctx.meta.catalogs()
            parts = [information_schema(self.ctx.meta, self.ctx.files.volumes_root, c, table.name) for c in catalogs]
            rows = pa.concat_tables(parts) if parts and parts[0] is not None else None
        elif not self.ctx.meta.catalog_exists(catalog):
            raise no_catalog(catalog)
        else:
            rows = information_schema(self.ctx.meta, self.ctx.files.volumes_root, catalog, table.name)
        if rows is None:
            raise table_not_found(quote_dbx(catalog, "information_schema", table.name.lower()))
        name = f"__dbload_information_schema_{table.name.lower()}_{id(rows)}"
        self.ctx.con.register(name, rows)
        return exp.Table(this=exp.to_identifier(name, quoted=True),
                         alias=alias or exp.TableAlias(this=exp.to_identifier(table.name, quoted=True)))  # fmt: skip

    def _read_files(self, call: exp.Anonymous, alias: exp.Expr | None) -> exp.Expr:
        args = list(call.expressions)
        if not args or not isinstance(args[0], exp.Literal) or not args[0].is_string:
            raise LocalSQLError("INVALID_PARAMETER_VALUE", "read_files needs a path string first.", "22023")
        options = {str(a.this.name).lower(): a.expression.name for a in args[1:] if isinstance(a, exp.Kwarg)}
        if options.get("format", "parquet").lower() != "parquet":
            raise unsupported(f"read_files format {options['format']!r} (only parquet is read locally)")
        unknown = set(options) - {"format", "mergeschema"}
        if unknown:
            raise unsupported(f"read_files options {sorted(unknown)}")
        return self.parquet_source(self.ctx.files.list_files(args[0].name), alias)

    def _table_changes(self, call: exp.Anonymous, alias: exp.Expr | None) -> exp.Expr:
        """table_changes('<table>', start [, end]): the change data feed between two versions (or timestamps)."""
        args = list(call.expressions)
        if not 2 <= len(args) <= 3 or not isinstance(args[0], exp.Literal) or not args[0].is_string:
            raise LocalSQLError(
                "WRONG_NUM_ARGS", "table_changes takes a table name (a string), a start and an optional end.", "42605"
            )
        meta = self.ctx.lookup(table_arg(args[0].name))
        history = self.ctx.meta.history(meta)
        start = changes.bound(args[1], history, is_start=True)
        end = changes.bound(args[2], history, is_start=False) if len(args) == 3 else meta.version
        query = sqlglot.parse_one(self.ctx.changes.source(meta, start, end, history), read="duckdb")
        return exp.Subquery(this=query, alias=alias or exp.TableAlias(this=exp.to_identifier("table_changes")))

    def parquet_source(self, paths: list[str], alias: exp.Expr | None) -> exp.Expr:
        self.ctx.files.register(self.ctx.con, paths)
        call = exp.Anonymous(
            this="read_parquet",
            expressions=[
                exp.Array(expressions=[exp.Literal.string(p) for p in paths]),
                exp.EQ(this=exp.column("union_by_name"), expression=exp.true()),
            ],
        )
        return exp.Table(this=call, alias=alias)

    def _relation(self, query: exp.Expr) -> duckdb.DuckDBPyRelation:
        return self.ctx.con.sql(self.to_duckdb(query))

    def query(self, query: exp.Expr) -> Result:
        relation = self._relation(query)
        return Result(_duplicates_kept(databricks_arrow(relation), query))

    def export(self, query: exp.Expr, path: str) -> pa.Schema:
        """Run `query` into a parquet file at `path` (errors surface here, as from `query`); the schema its rows
        have as a result."""
        sql = self.to_duckdb(query)
        schema = databricks_arrow(self.ctx.con.sql(sql).limit(0)).schema
        con = self.ctx.con
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        con.execute(f"SET memory_limit = '{EXPORT_MEMORY}'")  # DuckDB would keep every block it read cached
        try:
            con.execute(f"COPY ({sql}) TO {exp.Literal.string(path).sql('duckdb')} (FORMAT parquet)")
        finally:
            con.execute(f"SET memory_limit = {exp.Literal.string(limit).sql('duckdb')}")
        return schema

    def source_schema(self, query: exp.Expr) -> pa.Schema:
        return self._relation(query).limit(0).to_arrow_table().schema


def _compared_column(literal: exp.Literal) -> exp.Column | None:
    """The column a string literal is compared with (`=`, `<>`, `<`, ..., BETWEEN, IN), else None."""
    if not literal.is_string:
        return None
    parent = literal.parent
    if isinstance(parent, (exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
        other = parent.expression if literal is parent.this else parent.this
    elif isinstance(parent, (exp.Between, exp.In)) and literal is not parent.this:
        other = parent.this
    else:
        return None
    return other if isinstance(other, exp.Column) and isinstance(other.this, exp.Identifier) else None


def databricks_arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """Query results in Databricks' Arrow conventions (DuckDB's HUGEINT sums come back as BIGINT)."""
    table = relation.to_arrow_table()
    for i, dtype in enumerate(relation.types):
        if str(dtype) in ("HUGEINT", "UHUGEINT", "UBIGINT"):
            table = table.set_column(i, table.field(i).name, table.column(i).cast(pa.int64()))
        elif str(dtype) == "JSON":  # VARIANT values travel as JSON text, marked as Databricks marks them
            field = pa.field(table.field(i).name, pa.string(), metadata={"Spark:DataType:SqlName": "VARIANT"})
            table = table.set_column(i, field, table.column(i).cast(pa.string()))
    return table


def _from_items(select: exp.Select) -> list[exp.Expr]:
    """What a SELECT reads: its FROM item and each joined one (a table, subquery, VALUES, function...)."""
    clauses = [select.args.get("from_"), *(select.args.get("joins") or [])]
    return [c.this for c in clauses if c is not None and isinstance(c.this, exp.Expr)]


def _cte_named(node: exp.Expr, name: str) -> exp.CTE | None:
    """The (non-recursive) CTE `name` that `node` reads, from the nearest WITH that defines it."""
    ancestor = node.parent
    while ancestor is not None:
        with_ = ancestor.args.get("with_") if isinstance(ancestor, exp.Query) else None
        if with_ is not None:
            for cte in with_.expressions:
                if cte.alias_or_name.lower() == name.lower():
                    return None if with_.args.get("recursive") else cte
        ancestor = ancestor.parent
    return None


def _values_named(query: exp.Expr) -> exp.Expr:
    """VALUES' columns named col1, col2... as Spark names them (DuckDB: col0, col1...)."""
    if isinstance(query, exp.Values) and query.args.get("alias") is not None:  # VALUES (..) AS v(a, b)
        query = exp.select("*").from_(query)  # its alias names the columns, as a FROM item's does
    for values in query.find_all(exp.Values):
        alias = values.args.get("alias")
        in_from = isinstance(values.parent, (exp.From, exp.Join))
        if in_from and values.expressions and not (alias is not None and alias.columns):
            width = len(values.expressions[0].expressions) if isinstance(values.expressions[0], exp.Tuple) else 1
            values.set("alias", exp.TableAlias(
                this=exp.to_identifier(alias.name if alias is not None and alias.name else "values", quoted=True),
                columns=[exp.to_identifier(f"col{i + 1}") for i in range(width)],
            ))  # fmt: skip
    return query


def _range(call: exp.Anonymous, alias: exp.TableAlias | None) -> exp.Subquery:
    """range(...) in FROM: its column is `id`."""
    inner = exp.TableAlias(this=exp.to_identifier("__range"))
    numbers = exp.select(exp.column("range", table="__range").as_("id")).from_(exp.Table(this=call.copy(), alias=inner))
    return exp.Subquery(this=numbers, alias=alias or exp.TableAlias(this=exp.to_identifier("range")))


def _exploded(call: exp.Explode, alias: exp.TableAlias | None) -> exp.Subquery:
    """explode / posexplode of an array in FROM: columns `col` (and `pos`, an INT, from 0)."""
    array = call.this
    typed = semantics.type_of(array)
    is_array = isinstance(array, exp.Array) or (typed is not None and typed.this == exp.DataType.Type.ARRAY)
    if isinstance(call, (exp.ExplodeOuter, exp.PosexplodeOuter)) or not is_array:
        raise refused(f"{call.sql('databricks').split('(')[0].lower()} in FROM of anything but an array")
    columns = [exp.Unnest(expressions=[array.copy()]).as_("col")]
    if isinstance(call, exp.Posexplode):
        position = exp.Sub(this=exp.Anonymous(this="generate_subscripts", expressions=[array.copy(), exp.Literal.number(1)]),
                           expression=exp.Literal.number(1))  # fmt: skip
        columns.insert(0, exp.cast(position, "INT").as_("pos"))
    named = alias.columns if alias is not None else []
    if named and len(named) != len(columns):
        raise LocalSQLError(
            "NUM_TABLE_VALUE_ALIASES_MISMATCH",
            f"Number of given aliases does not match number of output columns. Function name: "
            f"{type(call).__name__.lower()}; number of aliases: {len(named)}; number of output columns: "
            f"{len(columns)}.",
            "42826",
        )
    return exp.Subquery(this=exp.select(*columns), alias=alias or exp.TableAlias(this=exp.to_identifier("explode")))


def _refuse_outer_names(select: exp.Select) -> None:
    """Spark names an unaliased expression over a LATERAL subquery's outer column `outer(catalog.schema.t.c)`,
    and resolves the outer columns of a LATERAL subquery nested in another, or of a semi/anti join, otherwise."""
    lateral = select.find_ancestor(exp.Lateral)
    if lateral is None:
        return
    nested = lateral.find_ancestor(exp.Lateral) is not None or lateral.this.find(exp.Lateral) is not None
    if nested or any(j.kind in ("SEMI", "ANTI") for j in lateral.find_all(exp.Join)):
        raise refused("a LATERAL subquery nested in another, or with a semi or anti join")
    local = {item.alias_or_name.lower() for item in _from_items(select)}
    for projection in select.expressions:
        if isinstance(projection, (exp.Alias, exp.Aliases, exp.Column, exp.Star)):
            continue
        if projection.find(exp.Subquery) or any(
            c.table and c.table.lower() not in local for c in projection.find_all(exp.Column)
        ):
            raise refused("the name of an unaliased expression over an outer column in a LATERAL subquery (name it "
                          "with AS)")  # fmt: skip


_RENAMED = re.compile(r"(.+)_(\d+)")


def _duplicates_kept(table: pa.Table, query: exp.Expr) -> pa.Table:
    """A result's repeated column names as Spark keeps them: DuckDB renames the second `c1` of a subquery's
    columns `c1_1` (a name the query itself never writes)."""
    written = {i.name.lower() for i in query.find_all(exp.Identifier)}
    names, seen = [], set()
    for name in table.column_names:
        match = _RENAMED.fullmatch(name)
        if match is not None and match.group(1).lower() in seen and name.lower() not in written:
            name = match.group(1)
        seen.add(name.lower())
        names.append(name)
    if names == table.column_names:
        return table
    fields = [f.with_name(n) for f, n in zip(table.schema, names, strict=True)]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def _named(projection: exp.Expr, time_zone: str) -> exp.Expr:
    """An unaliased SELECT expression named as Databricks names it (naming.py): `count(1)`, `(a + 1)`, `upper(x)`."""
    stars = [s for s in projection.find_all(exp.Star) if not isinstance(s.parent, exp.Count)]  # t.*, not count(*)
    if isinstance(projection, (exp.Alias, exp.Aliases, exp.Column, exp.Star)) or stars:
        return projection
    named = exp.alias_(projection, exp.to_identifier(naming.spark_name(projection, time_zone), quoted=True))
    named.meta["spark_named"] = True  # a name Spark derives, not one the query wrote
    return named
