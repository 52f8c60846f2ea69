"""Carries out Databricks SQL on DuckDB: parse with sqlglot's databricks dialect, interpret the statement."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ..naming import column_problem
from ..types import UnsupportedTypeError, arrow_to_databricks, databricks_to_duckdb, parse_type
from .catalog import Catalog, Column, TableMeta, check_name, quote_dbx, quote_duck
from .errors import LocalSQLError, schema_not_found, table_not_found, unsupported
from .files import FileResolver

logging.getLogger("sqlglot").setLevel(logging.ERROR)

_SCHEMA_EVOLUTION = re.compile(r"MERGE\s+WITH\s+SCHEMA\s+EVOLUTION\s+", re.I)
_LEADING_COMMENTS = re.compile(r"^(\s*(--[^\n]*\n|/\*.*?\*/))*\s*", re.S)
_WIDENINGS = {
    ("TINYINT", "SMALLINT"),
    ("TINYINT", "INT"),
    ("TINYINT", "BIGINT"),
    ("SMALLINT", "INT"),
    ("SMALLINT", "BIGINT"),
    ("INT", "BIGINT"),
    ("FLOAT", "DOUBLE"),
}


@dataclass
class Result:
    """What one statement returns: a result table (or None) and the affected row count (-1 if none)."""

    table: pa.Table | None = None
    rowcount: int = -1


def _table(**columns: tuple[pa.DataType, list]) -> pa.Table:
    return pa.table({name: pa.array(values, type=t) for name, (t, values) in columns.items()})


def _counts(**counts: int) -> Result:
    table = _table(**{k: (pa.int64(), [v]) for k, v in counts.items()})
    return Result(table, next(iter(counts.values())))


class LocalEngine:
    """One session of the local SQL warehouse over one DuckDB connection."""

    def __init__(self, files: FileResolver, catalog: str = "main", schema: str = "default"):
        self.files = files
        self.current_catalog = catalog.lower()
        self.current_schema = schema.lower()

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Run the session's next statements on `con` (the file is opened again after it was released)."""
        self.con = con
        con.execute("SET TimeZone = 'UTC'")
        self.meta = Catalog(con)

    # entry point
    def execute(self, sql: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> Result:
        body = _LEADING_COMMENTS.sub("", sql, count=1).rstrip().rstrip(";")
        special = self._special(body)
        if special is not None:
            return special
        evolve = _SCHEMA_EVOLUTION.match(body)
        if evolve:
            body = "MERGE " + body[evolve.end() :]
        try:
            statements = [s for s in sqlglot.parse(body, read="databricks") if s is not None]
        except ParseError as e:
            raise _syntax_error(e) from None
        if len(statements) != 1:
            raise LocalSQLError("PARSE_SYNTAX_ERROR", "Send exactly one statement per execute() call.", "42601")
        statement = _bind(statements[0], parameters)
        try:
            if isinstance(statement, exp.Merge):
                return self._merge(statement, schema_evolution=evolve is not None)
            return self._dispatch(statement)
        except duckdb.Error as e:
            raise _from_duckdb(e) from None

    def _dispatch(self, e: exp.Expression) -> Result:
        if isinstance(e, exp.Query):
            return self._query(e)
        handlers = {
            exp.Create: self._create,
            exp.Alter: self._alter,
            exp.Copy: self._copy_into,
            exp.Insert: self._insert,
            exp.Describe: self._describe,
            exp.Drop: self._drop,
            exp.Use: self._use,
            exp.Delete: self._delete,
        }
        for kind, handler in handlers.items():
            if isinstance(e, kind):
                return handler(e)
        if isinstance(e, exp.Command):
            raise unsupported(f"{e.name.upper()} statements")
        raise unsupported(f"{type(e).__name__.upper()} statements")

    # statements sqlglot does not parse
    def _special(self, body: str) -> Result | None:
        words = body.split(None, 3)
        head = " ".join(w.upper() for w in words[:2])
        if head in ("DESCRIBE DETAIL", "DESC DETAIL"):
            return self._describe_detail(self._lookup(_table_arg(body.split(None, 2)[2])))
        if words and words[0].upper() == "SHOW":
            return self._show(body)
        if head == "CREATE CATALOG":
            return self._create_catalog(body)
        if head == "CREATE VOLUME":
            return self._create_volume(body)
        if words and words[0].upper() in ("PUT", "GET", "REMOVE"):
            raise unsupported(f"{words[0].upper()} on a local connection (use LocalSQLWarehouseServer)")
        return None

    def _create_catalog(self, body: str) -> Result:
        m = re.fullmatch(r"CREATE\s+CATALOG\s+(IF\s+NOT\s+EXISTS\s+)?(.+?)(\s+COMMENT\s+.*)?", body, re.I | re.S)
        if not m:
            raise _syntax_error(body)
        name = check_name(_table_arg(m.group(2)).name, "catalog")
        if self.meta.catalog_exists(name):
            return _exists("CATALOG", f"catalog {quote_dbx(name)}", bool(m.group(1)), "42P04")
        with self._transaction():
            self.meta.create_catalog(name)
            self.meta.create_schema(name, "default")
        return Result()

    def _create_volume(self, body: str) -> Result:
        m = re.fullmatch(r"CREATE\s+(?:EXTERNAL\s+)?VOLUME\s+(IF\s+NOT\s+EXISTS\s+)?(\S+)(\s+.*)?", body, re.I | re.S)
        if not m:
            raise _syntax_error(body)
        catalog, schema, volume = self._resolve(_table_arg(m.group(2)))
        self.meta.require_schema(catalog, schema)
        path = self.files.volume_dir(catalog, schema, volume)
        if os.path.isdir(path):
            return _exists("VOLUME", f"volume {quote_dbx(catalog, schema, volume)}", bool(m.group(1)), "42000")
        os.makedirs(path, exist_ok=True)
        return Result()

    def _show(self, body: str) -> Result:
        m = re.fullmatch(r"SHOW\s+TBLPROPERTIES\s+(.+?)(?:\s*\(\s*(.+?)\s*\))?", body, re.I | re.S)
        if m:
            meta = self._lookup(_table_arg(m.group(1)))
            if m.group(2) is None:
                items = sorted(meta.properties.items())
            else:
                key = sqlglot.parse_one(m.group(2), read="databricks").name
                missing = f"Table {meta.display} does not have property: {key}"
                items = [(key, meta.properties.get(key, missing))]
            return Result(_table(key=(pa.string(), [k for k, _ in items]), value=(pa.string(), [v for _, v in items])))
        m = re.fullmatch(r"SHOW\s+(TABLES|SCHEMAS|DATABASES|CATALOGS)(?:\s+(?:IN|FROM)\s+(\S+))?", body, re.I)
        if not m:
            raise unsupported(f"SHOW {body.split(None, 2)[1].upper() if len(body.split()) > 1 else ''}".strip())
        what = m.group(1).upper()
        if what == "CATALOGS":
            return Result(_table(catalog=(pa.string(), self.meta.catalogs())))
        if what in ("SCHEMAS", "DATABASES"):
            catalog = check_name(_table_arg(m.group(2)).name, "catalog") if m.group(2) else self.current_catalog
            if not self.meta.catalog_exists(catalog):
                raise _no_catalog(catalog)
            return Result(_table(databaseName=(pa.string(), self.meta.schemas(catalog))))
        if m.group(2):
            parts = [check_name(p.name, "schema") for p in _table_arg(m.group(2) + ".x").parts[:-1]]
            catalog, schema = ([self.current_catalog] + parts)[-2:]
        else:
            catalog, schema = self.current_catalog, self.current_schema
        self.meta.require_schema(catalog, schema)
        names = self.meta.tables(catalog, schema)
        return Result(
            _table(
                database=(pa.string(), [schema] * len(names)),
                tableName=(pa.string(), names),
                isTemporary=(pa.bool_(), [False] * len(names)),
            )
        )

    # names
    def _resolve(self, table: exp.Table) -> tuple[str, str, str]:
        parts = [p.name for p in table.parts]
        if len(parts) > 3:
            raise LocalSQLError(
                "REQUIRES_SINGLE_PART_NAMESPACE",
                f"{table.sql('databricks')} has too many name parts.",
                "42K05",
            )
        parts = [self.current_catalog, self.current_schema][: 3 - len(parts)] + parts
        kinds = ("catalog", "schema", "table")
        return tuple(check_name(p, k) for p, k in zip(parts, kinds, strict=True))  # type: ignore[return-value]

    def _lookup(self, table: exp.Table) -> TableMeta:
        catalog, schema, name = self._resolve(table)
        meta = self.meta.get_table(catalog, schema, name)
        if meta is None:
            raise table_not_found(quote_dbx(catalog, schema, name))
        return meta

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # queries
    def _to_duckdb(self, query: exp.Expression) -> str:
        """DuckDB SQL for a Databricks query: tables renamed to their DuckDB homes, file sources readable."""
        query = query.copy()
        ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
        for table in list(query.find_all(exp.Table)):
            source = self._source(table, ctes)
            if source is not None:
                table.replace(source)
        return query.transform(self._databricks_semantics).sql("duckdb")

    def _databricks_semantics(self, node: exp.Expression) -> exp.Expression:
        """Where DuckDB would answer differently from Databricks: session functions, date_add's DATE, the
        time zone of TIMESTAMP(x) / to_timestamp(x), and ANSI division by zero (an error, not inf or NULL)."""
        if isinstance(node, exp.CurrentCatalog):
            return exp.Literal.string(self.current_catalog)
        if isinstance(node, (exp.CurrentSchema, exp.CurrentDatabase)):
            return exp.Literal.string(self.current_schema)
        if isinstance(node, exp.CurrentUser):
            return exp.Literal.string("local")
        if isinstance(node, exp.TsOrDsAdd):  # date_add(start, days) is a DATE on Databricks
            return exp.cast(node, exp.DataType.build("DATE"))
        if isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ):
            # TIMESTAMP(x) and to_timestamp(x) are Databricks TIMESTAMPs (local time zone): keep x's offset,
            # also written '... +04:00' or '... +0000' (the connector's own literals), which DuckDB does not read
            value = node.this
            if isinstance(value, exp.Literal) and value.is_string and _SPACED_OFFSET.match(value.name):
                value = exp.Literal.string(_SPACED_OFFSET.sub(r"\1\2", value.name))
            return exp.Cast(this=value, to=exp.DataType.build("TIMESTAMPTZ"))
        if isinstance(node, exp.StrToTime):  # to_timestamp(x, fmt): read in the session time zone (UTC)
            return exp.cast(node, exp.DataType.build("TIMESTAMPTZ"))
        if isinstance(node, (exp.Div, exp.IntDiv)):  # the same node: transform goes on into the new divisor
            divisor = node.expression
            zero = exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0))
            error = exp.Anonymous(this="error", expressions=[exp.Literal.string(_DIVIDE_BY_ZERO)])
            node.set("expression", exp.Case(ifs=[exp.If(this=zero, true=error)], default=divisor))
        return node

    def _source(self, table: exp.Table, ctes: set[str]) -> exp.Expression | None:
        alias = table.args.get("alias")
        if table.args.get("version") is not None:
            raise LocalSQLError(
                "UNSUPPORTED_FEATURE.TIME_TRAVEL",
                f"Time travel ({table.args['version'].sql('databricks')}) is not supported by the local SQL "
                "warehouse: it keeps only each table's current version (DESCRIBE HISTORY lists the versions).",
                "0A000",
            )
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == "range":
            numbers = exp.select(exp.column("range").as_("id")).from_(exp.Table(this=table.this.copy()))
            return exp.Subquery(this=numbers, alias=alias or exp.TableAlias(this=exp.to_identifier("range")))
        if isinstance(table.this, exp.Anonymous) and table.this.name.lower() == "read_files":
            return self._read_files(table.this, alias)
        if table.db.lower() == "parquet" and not table.catalog:
            return self._parquet_source(self.files.list_files(table.name), alias)
        if isinstance(table.this, exp.Func) or (not table.db and table.name.lower() in ctes):
            return None
        meta = self._lookup(table)
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

    def _read_files(self, call: exp.Anonymous, alias: exp.Expression | None) -> exp.Expression:
        args = list(call.expressions)
        if not args or not isinstance(args[0], exp.Literal) or not args[0].is_string:
            raise LocalSQLError("INVALID_PARAMETER_VALUE", "read_files needs a path string first.", "22023")
        options = {str(a.this.name).lower(): a.expression.name for a in args[1:] if isinstance(a, exp.Kwarg)}
        if options.get("format", "parquet").lower() != "parquet":
            raise unsupported(f"read_files format {options['format']!r} (only parquet is read locally)")
        unknown = set(options) - {"format", "mergeschema"}
        if unknown:
            raise unsupported(f"read_files options {sorted(unknown)}")
        return self._parquet_source(self.files.list_files(args[0].name), alias)

    def _parquet_source(self, paths: list[str], alias: exp.Expression | None) -> exp.Expression:
        self.files.register(self.con, paths)
        call = exp.Anonymous(
            this="read_parquet",
            expressions=[
                exp.Array(expressions=[exp.Literal.string(p) for p in paths]),
                exp.EQ(this=exp.column("union_by_name"), expression=exp.true()),
            ],
        )
        return exp.Table(this=call, alias=alias)

    def _relation(self, query: exp.Expression) -> duckdb.DuckDBPyRelation:
        return self.con.sql(self._to_duckdb(query))

    def _query(self, query: exp.Expression) -> Result:
        relation = self._relation(query)
        return Result(_databricks_arrow(relation))

    def _source_schema(self, query: exp.Expression) -> pa.Schema:
        return self._relation(query).limit(0).to_arrow_table().schema

    # DDL
    def _create(self, e: exp.Create) -> Result:
        kind = str(e.args.get("kind", "")).upper()
        if kind in ("SCHEMA", "DATABASE"):
            return self._create_schema(e)
        if kind != "TABLE":
            raise unsupported(f"CREATE {kind}")
        target = e.this.this if isinstance(e.this, exp.Schema) else e.this
        catalog, schema, name = self._resolve(target)
        self.meta.require_schema(catalog, schema)
        existing = self.meta.get_table(catalog, schema, name)
        if existing is not None and not e.args.get("replace"):
            return _exists("TABLE_OR_VIEW", f"table or view {existing.display}", bool(e.args.get("exists")), "42P07")
        meta = TableMeta(catalog, schema, name)
        self._apply_properties(meta, e.args.get("properties"))
        if isinstance(e.this, exp.Schema):
            meta.columns = [_column(c) for c in e.this.expressions if isinstance(c, exp.ColumnDef)]
        _check_columns(meta)
        for key in ("partitioned_by", "clustered_by"):
            for col in getattr(meta, key):
                if e.expression is None and meta.column(col) is None:
                    raise _unresolved_column(col, meta)
        operation = ("CREATE OR REPLACE TABLE" if existing else "CREATE TABLE") + (
            " AS SELECT" if e.expression is not None else ""
        )
        with self._transaction():
            if existing is not None:
                meta.id, meta.version, meta.created_at = existing.id, existing.version, existing.created_at
                self.meta.drop_table(existing, keep_history=True)
            metrics: dict[str, int] = {}
            if e.expression is not None:
                self.con.execute(f"CREATE TABLE {meta.duck} AS {self._to_duckdb(e.expression)}")
                schema_ = self.con.sql(f"SELECT * FROM {meta.duck} LIMIT 0").to_arrow_table().schema
                meta.columns = [Column(f.name, _dbx_type(f)) for f in schema_]
                _check_columns(meta)
                metrics["numOutputRows"] = self.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0]
            elif meta.columns:
                self._create_duck_table(meta)
            self.meta.commit(meta, operation, {"isManaged": "true", "description": meta.comment}, metrics)
        return Result()

    def _create_duck_table(self, meta: TableMeta) -> None:
        cols = ", ".join(
            f"{quote_duck(c.name)} {databricks_to_duckdb(c.type)}{'' if c.nullable else ' NOT NULL'}"
            for c in meta.columns
        )
        self.con.execute(f"CREATE TABLE {meta.duck} ({cols})")

    def _apply_properties(self, meta: TableMeta, properties: exp.Properties | None) -> None:
        for prop in properties.expressions if properties else []:
            if isinstance(prop, exp.FileFormatProperty):
                if prop.name.upper() != "DELTA":
                    raise unsupported(f"USING {prop.name.upper()} tables (only Delta tables exist locally)")
            elif isinstance(prop, exp.PartitionedByProperty):
                meta.partitioned_by = [c.name for c in prop.this.expressions]
            elif isinstance(prop, exp.ClusterProperty):
                meta.clustered_by = [c.name for c in prop.expressions] or ["AUTO"]
            elif isinstance(prop, exp.SchemaCommentProperty):
                meta.comment = prop.this.name
            elif isinstance(prop, exp.Property):
                meta.properties[prop.name] = prop.args["value"].name
            else:
                raise unsupported(f"the table clause {prop.sql('databricks')}")

    def _create_schema(self, e: exp.Create) -> Result:
        table = e.this
        catalog = check_name(table.catalog or self.current_catalog, "catalog")
        schema = check_name(table.db or table.name, "schema")
        if not self.meta.catalog_exists(catalog):
            raise _no_catalog(catalog)
        if self.meta.schema_exists(catalog, schema):
            return _exists("SCHEMA", f"schema {quote_dbx(catalog, schema)}", bool(e.args.get("exists")), "42P06")
        self.meta.create_schema(catalog, schema)
        return Result()

    def _alter(self, e: exp.Alter) -> Result:
        meta = self._lookup(e.this)
        with self._transaction():
            for action in e.args.get("actions", []):
                given = {k for k, v in action.args.items() if v}
                if isinstance(action, exp.Schema):
                    self._add_columns(meta, [_column(c) for c in action.expressions])
                    self.meta.commit(meta, "ADD COLUMNS", {"columns": [c.name for c in action.expressions]}, {})
                elif isinstance(action, exp.AlterColumn) and given == {"this", "comment"}:
                    column = meta.column(action.name) or _raise(_unresolved_column(action.name, meta))
                    column.comment = action.args["comment"].name
                    self.meta.commit(meta, "CHANGE COLUMN", {"column": column.name}, {})
                elif isinstance(action, exp.AlterColumn) and given == {"this", "dtype"}:
                    self._widen(meta, action.name, action.args["dtype"].sql("databricks"))
                elif isinstance(action, exp.AlterSet) and all(
                    isinstance(p, exp.Properties) for p in action.expressions
                ):
                    for properties in action.expressions:
                        self._apply_properties(meta, properties)
                    self.meta.commit(meta, "SET TBLPROPERTIES", {"properties": sorted(meta.properties)}, {})
                else:
                    raise unsupported(f"ALTER TABLE {action.sql('databricks')}")
        return Result()

    def _add_columns(self, meta: TableMeta, columns: list[Column]) -> None:
        for column in columns:
            if meta.column(column.name) is not None:
                raise LocalSQLError(
                    "FIELDS_ALREADY_EXISTS",
                    f"Cannot add column, because {quote_dbx(column.name)} already exists in {meta.display}.",
                    "42710",
                )
        first = not meta.columns
        meta.columns.extend(columns)
        _check_columns(meta)
        if first:
            self._create_duck_table(meta)
            return
        for column in columns:
            self.con.execute(
                f"ALTER TABLE {meta.duck} ADD COLUMN {quote_duck(column.name)} {databricks_to_duckdb(column.type)}"
            )

    def _widen(self, meta: TableMeta, name: str, new_type: str) -> None:
        """ALTER COLUMN ... TYPE: only Delta's type widening (e.g. INT -> BIGINT), only when it is enabled."""
        column = meta.column(name)
        if column is None:
            raise _unresolved_column(name, meta)
        new_type = parse_type(new_type).sql("databricks")
        if meta.properties.get("delta.enableTypeWidening", "false").lower() != "true" or not _assignable(
            column.type, new_type
        ):
            raise LocalSQLError(
                "DELTA_UNSUPPORTED_ALTER_TABLE_CHANGE_COL_OP",
                f"ALTER TABLE ALTER COLUMN is not supported for changing column {quote_dbx(column.name)} from "
                f"{column.type} to {new_type}: only widening with 'delta.enableTypeWidening' = 'true' is.",
                "0AKDC",
            )
        self.con.execute(
            f"ALTER TABLE {meta.duck} ALTER COLUMN {quote_duck(column.name)} TYPE {databricks_to_duckdb(new_type)}"
        )
        column.type = new_type
        self.meta.commit(meta, "CHANGE COLUMN", {"column": column.name, "type": new_type}, {})

    def _drop(self, e: exp.Drop) -> Result:
        kind = str(e.args.get("kind", "")).upper()
        with self._transaction():
            if kind == "TABLE":
                for table in e.args.get("tables") or [e.this]:
                    try:
                        self.meta.drop_table(self._lookup(table))
                    except LocalSQLError:
                        if not e.args.get("exists"):
                            raise
                return Result()
            if kind in ("SCHEMA", "DATABASE"):
                table = e.args["tables"][0] if e.args.get("tables") else e.this
                catalog = check_name(table.catalog or self.current_catalog, "catalog")
                schema = check_name(table.db or table.name, "schema")
                if not self.meta.schema_exists(catalog, schema):
                    if e.args.get("exists"):
                        return Result()
                    raise schema_not_found(quote_dbx(catalog, schema))
                if self.meta.tables(catalog, schema) and not e.args.get("cascade"):
                    raise LocalSQLError(
                        "SCHEMA_NOT_EMPTY",
                        f"Cannot drop a schema {quote_dbx(catalog, schema)} because it contains objects. "
                        "Use DROP SCHEMA ... CASCADE to drop the schema and all its objects.",
                        "2BP01",
                    )
                self.meta.drop_schema(catalog, schema)
                return Result()
        raise unsupported(f"DROP {kind}")

    def _use(self, e: exp.Use) -> Result:
        kind = (e.args.get("kind").name if e.args.get("kind") else "SCHEMA").upper()
        if kind == "CATALOG":
            catalog = check_name(e.this.name, "catalog")
            if not self.meta.catalog_exists(catalog):
                raise _no_catalog(catalog)
            self.current_catalog, self.current_schema = catalog, "default"
        else:
            *rest, schema = [p.name for p in e.this.parts]
            catalog = check_name(rest[0], "catalog") if rest else self.current_catalog
            self.meta.require_schema(catalog, check_name(schema, "schema"))
            self.current_catalog, self.current_schema = catalog, schema.lower()
        return Result()

    # writes
    def _insert(self, e: exp.Insert) -> Result:
        target = e.this.this if isinstance(e.this, exp.Schema) else e.this
        meta = self._lookup(target)
        if not meta.columns:
            raise LocalSQLError(
                "DELTA_SCHEMA_NOT_SET",
                f"Table {meta.display} has no schema; write it with COPY INTO and "
                "COPY_OPTIONS ('mergeSchema' = 'true') or define its columns first.",
                "KD008",
            )
        names = [i.name for i in e.this.expressions] if isinstance(e.this, exp.Schema) else None
        source_schema = self._source_schema(e.expression)
        if e.args.get("by_name"):
            names = [f.name for f in source_schema]
        columns = [meta.column(n) or _raise(_unresolved_column(n, meta)) for n in names or []] or meta.columns
        if len(columns) != len(source_schema):
            raise LocalSQLError(
                "INSERT_COLUMN_ARITY_MISMATCH",
                f"Cannot write to {meta.display}, the reason is {'not enough' if len(source_schema) < len(columns) else 'too many'} "
                f"data columns: table columns {[c.name for c in columns]}, data columns {source_schema.names}.",
                "21S01",
            )
        source = f"({self._to_duckdb(e.expression)}) AS __src({', '.join(quote_duck(c.name) for c in columns)})"
        where = e.args.get("where")
        overwrite = bool(e.args.get("overwrite"))
        with self._transaction():
            if where is not None:
                predicate = self._to_duckdb(where)
                bad = self.con.execute(f"SELECT count(*) FROM {source} WHERE NOT coalesce({predicate}, false)")
                if bad.fetchall()[0][0]:
                    raise LocalSQLError(
                        "DELTA_REPLACE_WHERE_MISMATCH",
                        "Written data does not conform to partial table overwrite condition or constraint "
                        f"'{where.sql('databricks')}'.",
                        "44000",
                    )
                self.con.execute(f"DELETE FROM {meta.duck} WHERE {predicate}")
            elif overwrite:
                self.con.execute(f"DELETE FROM {meta.duck}")
            inserted = self._append(meta, columns, f"SELECT * FROM {source}")
            mode = "Overwrite" if overwrite or where is not None else "Append"
            params = {"mode": mode, **({"predicate": where.sql("databricks")} if where is not None else {})}
            self.meta.commit(meta, "WRITE", params, {"numOutputRows": inserted, "numFiles": 1})
        return _counts(num_affected_rows=inserted, num_inserted_rows=inserted)

    def _merge(self, e: exp.Merge, schema_evolution: bool) -> Result:
        """MERGE with Delta semantics (a target row matched by several source rows is an error) on DuckDB's MERGE;
        schema evolution, the check and the merge commit together or not at all."""
        meta = self._lookup(e.this)
        rewritten = sqlglot.parse_one(self._to_duckdb(e), read="duckdb")
        target, source, on = (
            rewritten.this.sql("duckdb"),
            rewritten.args["using"].sql("duckdb"),
            rewritten.args["on"].sql("duckdb"),
        )
        whens = list(e.args["whens"].expressions)
        with self._transaction():
            if schema_evolution:
                self._evolve(meta, self._source_schema(exp.select("*").from_(e.args["using"].copy())), True)
                self.meta.commit(meta, "ADD COLUMNS", {"source": "MERGE WITH SCHEMA EVOLUTION"}, {})
            if any(w.args.get("matched") for w in whens):
                repeated = self.con.execute(
                    _repeated_matches_sql(meta, target, source, on, _alias(rewritten.this))
                ).fetchall()[0][0]
                if repeated:
                    raise LocalSQLError(
                        "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE",
                        f"Cannot perform Merge as multiple source rows matched and attempted to modify the same "
                        f"target row in the Delta table {meta.display} ({repeated} target rows affected). "
                        "Preprocess the source table to eliminate the possibility of multiple matches.",
                        "21506",
                    )
            updated, deleted, inserted = self._run_merge(meta, rewritten.sql("duckdb"), whens)
            self.meta.commit(
                meta,
                "MERGE",
                {"predicate": e.args["on"].sql("databricks")},
                {
                    "numTargetRowsUpdated": updated,
                    "numTargetRowsDeleted": deleted,
                    "numTargetRowsInserted": inserted,
                    "numOutputRows": updated + inserted,
                },
            )
        return _counts(
            num_affected_rows=updated + deleted + inserted,
            num_updated_rows=updated,
            num_deleted_rows=deleted,
            num_inserted_rows=inserted,
        )

    def _run_merge(self, meta: TableMeta, merge_sql: str, whens: list[exp.When]) -> tuple[int, int, int]:
        """Run the DuckDB MERGE; (updated, deleted, inserted) rows. DuckDB names the action `merge_action` in
        RETURNING, which a table column of that name hides: then the counts come from row counts."""
        if meta.column("merge_action") is None:
            actions = self.con.sql(f"{merge_sql} RETURNING merge_action").to_arrow_table()
            counts = {row["values"]: row["counts"] for row in pc.value_counts(actions.column(0)).to_pylist()}
            return counts.get("UPDATE", 0), counts.get("DELETE", 0), counts.get("INSERT", 0)
        kinds = {type(w.args["then"]).__name__ for w in whens}  # Update, Insert, Var (DELETE)
        if len(kinds) == 3:
            raise unsupported(
                "MERGE with UPDATE, DELETE and INSERT clauses into a table with a column named merge_action"
            )
        before = self.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0]
        total = self.con.execute(merge_sql).fetchall()[0][0]
        growth = self.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0] - before
        if "Var" not in kinds:  # no deletes: the table grew by the inserts
            return total - growth, 0, growth
        if "Insert" not in kinds:  # no inserts: it shrank by the deletes
            return total + growth, -growth, 0
        return 0, (total - growth) // 2, (total + growth) // 2  # no updates: total = d + i, growth = i - d

    def _append(self, meta: TableMeta, columns: list[Column], select_sql: str) -> int:
        cols = ", ".join(quote_duck(c.name) for c in columns)
        return self.con.execute(f"INSERT INTO {meta.duck} ({cols}) {select_sql}").fetchall()[0][0]

    def _delete(self, e: exp.Delete) -> Result:
        meta = self._lookup(e.this)
        where = e.args.get("where")
        with self._transaction():
            sql = f"DELETE FROM {meta.duck}" + (f" WHERE {self._to_duckdb(where.this)}" if where else "")
            deleted = self.con.execute(sql).fetchall()[0][0]
            self.meta.commit(
                meta, "DELETE", {"predicate": where.sql("databricks") if where else ""}, {"numDeletedRows": deleted}
            )
        return _counts(num_affected_rows=deleted)

    def _copy_into(self, e: exp.Copy) -> Result:
        meta = self._lookup(e.this)
        params = {p.name.upper(): p for p in e.args.get("params", [])}
        if e.args.get("credentials") and e.args["credentials"].args:
            raise unsupported("COPY INTO ... WITH (CREDENTIAL ...) on this local warehouse")
        if params.get("FILEFORMAT") is None or params["FILEFORMAT"].expression.name.upper() != "PARQUET":
            raise unsupported("COPY INTO with a FILEFORMAT other than PARQUET")
        copy_options = _options(params.get("COPY_OPTIONS"))
        _options(params.get("FORMAT_OPTIONS"))  # mergeSchema across files is what union_by_name does
        if "FILES" in params and "PATTERN" in params:
            raise LocalSQLError(
                "COPY_INTO_SOURCE_FILE_FORMAT_NOT_SUPPORTED", "FILES and PATTERN cannot be used together.", "42613"
            )
        files_arg = params.get("FILES")
        names = [f.name for f in files_arg.expression.flatten()] if files_arg is not None else None
        pattern = params["PATTERN"].expression.name if "PATTERN" in params else None
        sources = e.args["files"]
        if len(sources) != 1 or not isinstance(sources[0], exp.Literal):
            raise unsupported("COPY INTO from a subquery")
        found = self.files.list_files(sources[0].name, names, pattern)
        force = copy_options.get("force", "false").lower() == "true"
        merge_schema = copy_options.get("mergeschema", "false").lower() == "true"
        new_files = found if force else sorted(set(found) - self.meta.loaded_files(meta))
        if not new_files:
            return _counts(num_affected_rows=0, num_inserted_rows=0, num_skipped_corrupt_files=0)
        source = self._parquet_source(new_files, None).sql("duckdb")
        schema = self.con.sql(f"SELECT * FROM {source} LIMIT 0").to_arrow_table().schema
        with self._transaction():
            self._evolve(meta, schema, merge_schema)
            columns = [meta.column(f.name) for f in schema]
            select = ", ".join(quote_duck(f.name) for f in schema)
            inserted = self._append(meta, columns, f"SELECT {select} FROM {source}")
            self.meta.mark_loaded(meta, new_files)
            self.meta.commit(
                meta,
                "COPY INTO",
                {"force": force, "mergeSchema": merge_schema},
                {"numOutputRows": inserted, "numFiles": len(new_files)},
            )
        return _counts(num_affected_rows=inserted, num_inserted_rows=inserted, num_skipped_corrupt_files=0)

    def _evolve(self, meta: TableMeta, source: pa.Schema, merge_schema: bool) -> None:
        """Check the source columns against the table; with mergeSchema, add the new ones."""
        new: list[Column] = []
        for field in source:
            column = meta.column(field.name)
            source_type = _dbx_type(field)
            if column is None:
                new.append(Column(field.name, source_type))
            elif not _assignable(source_type, column.type):
                raise LocalSQLError(
                    "DELTA_FAILED_TO_MERGE_FIELDS",
                    f"Failed to merge fields '{column.name}' and '{field.name}': the table has "
                    f"{column.type}, the data has {source_type}.",
                    "22005",
                )
        if new and not merge_schema:
            raise LocalSQLError(
                "DELTA_METADATA_MISMATCH",
                f"A schema mismatch detected when writing to the Delta table {meta.display}: the data has columns "
                f"{[c.name for c in new]} that the table does not have. To enable schema migration, set "
                "COPY_OPTIONS ('mergeSchema' = 'true').",
                "KD004",
            )
        if new:
            self._add_columns(meta, new)

    # DESCRIBE
    def _describe(self, e: exp.Describe) -> Result:
        if isinstance(e.this, exp.Table) is False:
            raise unsupported(f"DESCRIBE {e.this.sql('databricks')}")
        style = str(e.args.get("style") or "").upper()
        meta = self._lookup(e.this)
        if style == "HISTORY":
            return self._describe_history(meta)
        if style not in ("", "EXTENDED", "FORMATTED"):
            raise unsupported(f"DESCRIBE {style}")
        rows = [(c.name, _display_type(c.type), c.comment) for c in meta.columns]
        for title, cols in (
            ("# Partition Information", meta.partitioned_by),
            ("# Clustering Information", meta.clustered_by),
        ):
            if cols and cols != ["AUTO"]:
                rows += [(title, "", ""), ("# col_name", "data_type", "comment")]
                rows += [(c.name, _display_type(c.type), c.comment) for c in map(meta.column, cols) if c]
        if style:
            props = ",".join(f"{k}={v}" for k, v in sorted(meta.properties.items()))
            rows += [("", "", ""), ("# Detailed Table Information", "", "")]
            rows += [
                ("Catalog", meta.catalog, ""),
                ("Database", meta.schema, ""),
                ("Table", meta.name, ""),
                ("Created Time", meta.created_at, ""),
                ("Type", "MANAGED", ""),
                ("Comment", meta.comment, ""),
                ("Location", f"dbload-local:/{meta.catalog}/{meta.schema}/{meta.name}", ""),
                ("Provider", "delta", ""),
                ("Table Properties", f"[{props}]", ""),
            ]
            if meta.clustered_by:
                rows.append(("Clustering Columns", str(meta.clustered_by), ""))
        names = ("col_name", "data_type", "comment")
        return Result(_table(**{n: (pa.string(), [r[i] for r in rows]) for i, n in enumerate(names)}))

    def _describe_history(self, meta: TableMeta) -> Result:
        rows = self.meta.history(meta)
        as_map = pa.map_(pa.string(), pa.string())
        return Result(
            _table(
                version=(pa.int64(), [r[0] for r in rows]),
                timestamp=(pa.timestamp("us", "UTC"), [r[1] for r in rows]),
                userName=(pa.string(), ["local"] * len(rows)),
                operation=(pa.string(), [r[2] for r in rows]),
                operationParameters=(as_map, [list(json.loads(r[3]).items()) for r in rows]),
                readVersion=(pa.int64(), [r[0] - 1 if r[0] else None for r in rows]),
                isolationLevel=(pa.string(), ["WriteSerializable"] * len(rows)),
                isBlindAppend=(pa.bool_(), [r[2] == "COPY INTO" for r in rows]),
                operationMetrics=(as_map, [list(json.loads(r[4]).items()) for r in rows]),
                engineInfo=(pa.string(), [f"dagster-dbload-local duckdb/{duckdb.__version__}"] * len(rows)),
            )
        )

    def _describe_detail(self, meta: TableMeta) -> Result:
        rows = self.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0] if meta.columns else 0
        strings = pa.list_(pa.string())
        return Result(
            _table(
                format=(pa.string(), ["delta"]),
                id=(pa.string(), [meta.id]),
                name=(pa.string(), [f"{meta.catalog}.{meta.schema}.{meta.name}"]),
                description=(pa.string(), [meta.comment]),
                location=(pa.string(), [f"dbload-local:/{meta.catalog}/{meta.schema}/{meta.name}"]),
                createdAt=(pa.timestamp("us", "UTC"), [datetime.fromisoformat(meta.created_at)]),
                lastModified=(pa.timestamp("us", "UTC"), [self.meta.last_modified(meta)]),
                partitionColumns=(strings, [meta.partitioned_by]),
                clusteringColumns=(strings, [meta.clustered_by]),
                numFiles=(pa.int64(), [meta.version + 1]),
                numRows=(pa.int64(), [rows]),
                properties=(pa.map_(pa.string(), pa.string()), [list(meta.properties.items())]),
                minReaderVersion=(pa.int32(), [1]),
                minWriterVersion=(pa.int32(), [2]),
                version=(pa.int64(), [meta.version]),
            )
        )


# helpers
def _raise(error: Exception) -> Any:
    raise error


def _alias(node: exp.Expression) -> str:
    alias = node.args.get("alias")
    return quote_duck(alias.name) if alias is not None else quote_duck(node.name)


def _display_type(type_sql: str) -> str:
    """A type as DESCRIBE shows it on Databricks: lower case, no spaces (`decimal(38,0)`, `struct<x:int>`)."""
    return re.sub(r"([,:<(])\s+", r"\1", type_sql.lower())


def _repeated_matches_sql(meta: TableMeta, target: str, source: str, on: str, alias: str) -> str:
    """SQL counting target rows that several source rows match. DuckDB's `rowid` identifies a row unless a
    table column has that name; then rows are compared by value: matches per distinct value above the number
    of identical rows mean a row matched twice."""
    if meta.column("rowid") is None:
        return f"SELECT count(*) FROM (SELECT 1 FROM {target} JOIN {source} ON {on} GROUP BY {alias}.rowid HAVING count(*) > 1)"
    names = [quote_duck(c.name) for c in meta.columns]
    same = " AND ".join(f"x.{n} IS NOT DISTINCT FROM j.{n}" for n in names)
    return (
        f"SELECT count(*) FROM (SELECT {', '.join(f'{alias}.{n}' for n in names)}, count(*) AS __dbload_n "
        f"FROM {target} JOIN {source} ON {on} GROUP BY ALL) AS j "
        f"WHERE j.__dbload_n > (SELECT count(*) FROM {meta.duck} AS x WHERE {same})"
    )


def _table_arg(text: str) -> exp.Table:
    try:
        return sqlglot.parse_one(text.strip(), into=exp.Table, read="databricks")
    except ParseError as e:
        raise _syntax_error(e) from None


def _exists(kind: str, what: str, if_not_exists: bool, sqlstate: str) -> Result:
    """CREATE of something that exists: nothing to do with IF NOT EXISTS, else Databricks' error."""
    if if_not_exists:
        return Result()
    raise LocalSQLError(f"{kind}_ALREADY_EXISTS", f"Cannot create {what} because it already exists.", sqlstate)


def _no_catalog(name: str) -> LocalSQLError:
    return LocalSQLError("NO_SUCH_CATALOG_EXCEPTION", f"Catalog '{name}' was not found.", "42704")


def _unresolved_column(name: str, meta: TableMeta) -> LocalSQLError:
    return LocalSQLError(
        "UNRESOLVED_COLUMN.WITH_SUGGESTION",
        f"A column, variable, or function parameter with name {quote_dbx(name)} cannot be resolved. "
        f"Did you mean one of the following? [{', '.join(quote_dbx(c.name) for c in meta.columns)}].",
        "42703",
    )


def _syntax_error(error: ParseError | str) -> LocalSQLError:
    near = ""
    if isinstance(error, ParseError) and error.errors:
        near = str(error.errors[0].get("highlight") or "")
    return LocalSQLError(
        "PARSE_SYNTAX_ERROR", f"Syntax error at or near '{near}'." if near else "Syntax error.", "42601"
    )


def _column(definition: exp.ColumnDef) -> Column:
    kind = definition.args.get("kind")
    if kind is None:
        raise LocalSQLError("PARSE_SYNTAX_ERROR", f"Column {definition.name!r} needs a type.", "42601")
    comment, nullable = None, True
    for constraint in definition.args.get("constraints", []):
        if isinstance(constraint.kind, exp.CommentColumnConstraint):
            comment = constraint.kind.this.name
        elif isinstance(constraint.kind, exp.NotNullColumnConstraint):
            nullable = bool(constraint.kind.args.get("allow_null"))
    return Column(definition.name, parse_type(kind.sql("databricks")).sql("databricks"), comment, nullable)


def _check_columns(meta: TableMeta) -> None:
    column_mapping = meta.properties.get("delta.columnMapping.mode", "none").lower() != "none"
    seen: set[str] = set()
    for column in meta.columns:
        if column.name.lower() in seen:
            raise LocalSQLError(
                "COLUMN_ALREADY_EXISTS", f"The column {quote_dbx(column.name)} already exists.", "42711"
            )
        seen.add(column.name.lower())
        problem = None if column_mapping else column_problem(column.name)
        if problem:
            raise LocalSQLError(
                "DELTA_INVALID_CHARACTERS_IN_COLUMN_NAMES",
                f"Invalid column name {column.name!r}: {problem}. "
                "Rename the column or set TBLPROPERTIES ('delta.columnMapping.mode' = 'name').",
                "42K05",
            )


def _dbx_type(field: pa.Field) -> str:
    try:
        return parse_type(arrow_to_databricks(field.type, field.name)).sql("databricks")
    except UnsupportedTypeError as e:
        raise LocalSQLError("UNSUPPORTED_DATATYPE", str(e), "0A000") from None


def _assignable(source: str, target: str) -> bool:
    if source.lower() == target.lower():
        return True
    s, t = parse_type(source), parse_type(target)
    if s.this == exp.DataType.Type.DECIMAL and t.this == exp.DataType.Type.DECIMAL:
        (sp, ss), (tp, ts) = ([int(p.name) for p in d.expressions] for d in (s, t))
        return ss <= ts and sp - ss <= tp - ts
    return (source, target) in _WIDENINGS


def _options(parameter: exp.Expression | None) -> dict[str, str]:
    """FORMAT_OPTIONS / COPY_OPTIONS as a dict with lower-case keys."""
    if parameter is None:
        return {}
    return {p.name.lower(): p.args["value"].name for p in parameter.expressions if isinstance(p, exp.Property)}


def _literal(value: Any) -> exp.Expression:
    value = getattr(value, "value", value)  # the connector's typed parameter objects
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float, Decimal)):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        kind = "TIMESTAMP" if value.tzinfo else "TIMESTAMP_NTZ"
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), parse_type(kind))
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), parse_type("DATE"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[_literal(v) for v in value])
    raise LocalSQLError("INVALID_PARAMETER_VALUE", f"Cannot bind a parameter of type {type(value).__name__}.")


def _bind(statement: exp.Expression, parameters: Mapping[str, Any] | Sequence[Any] | None) -> exp.Expression:
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
            marker.replace(_literal(named[marker.name]))
        else:
            if positional is None or position >= len(positional):
                raise LocalSQLError("UNBOUND_SQL_PARAMETER", "Found an unbound positional parameter.", "42P02")
            marker.replace(_literal(positional[position]))
            position += 1
    return statement


def _databricks_arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """Query results in Databricks' Arrow conventions (DuckDB's HUGEINT sums come back as BIGINT)."""
    table = relation.to_arrow_table()
    for i, dtype in enumerate(relation.types):
        if str(dtype) in ("HUGEINT", "UHUGEINT", "UBIGINT"):
            table = table.set_column(i, table.field(i).name, table.column(i).cast(pa.int64()))
    return table


_SPACED_OFFSET = re.compile(r"^(.*\d)\s+([+-]\d{2}:?\d{2})$")
_DIVIDE_BY_ZERO = "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate a zero divisor and return NULL."

_DUCK_ERRORS = [
    (
        re.compile(r"\[DIVIDE_BY_ZERO\] ([^\n]+)"),
        "DIVIDE_BY_ZERO",
        "22012",
        "{0}",
    ),
    (
        re.compile(r'Referenced column "([^"]+)" not found'),
        "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION",
        "42703",
        "A column, variable, or function parameter with name `{0}` cannot be resolved.",
    ),
    (
        re.compile(r"Could not convert string '([^']*)'"),
        "CAST_INVALID_INPUT",
        "22018",
        "The value '{0}' cannot be cast to the target type because it is malformed.",
    ),
    (
        re.compile(r"NOT NULL constraint failed: ([^\n]+)"),
        "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
        "23502",
        "NOT NULL constraint violated for column: {0}.",
    ),
]


def _from_duckdb(error: duckdb.Error) -> LocalSQLError:
    message = str(error)
    for pattern, error_class, sqlstate, text in _DUCK_ERRORS:
        m = pattern.search(message)
        if m:
            return LocalSQLError(error_class, text.format(*m.groups()), sqlstate)
    return LocalSQLError("LOCAL_ENGINE_ERROR", message.splitlines()[0], "XX000")
