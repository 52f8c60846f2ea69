"""SHOW and DESCRIBE: what the catalog knows about tables."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from ..sql import literal
from .catalog import TableMeta, check_name, quote_dbx
from .columns import dbx_type, display_type
from .common import (
    Result,
    no_catalog,
    syntax_error,
    table_arg,
    table_of,
)
from .context import USER, Context
from .errors import LocalSQLError, unsupported
from .listings import (
    jdbc_catalogs,
    jdbc_columns,
    jdbc_cross_reference,
    jdbc_functions,
    jdbc_primary_keys,
    jdbc_schemas,
    jdbc_tables,
    jdbc_type_info,
    like,
)
from .reads import Reads


class Metadata:
    """SHOW TABLES|TABLE EXTENDED|SCHEMAS|CATALOGS|TBLPROPERTIES, DESCRIBE [EXTENDED|HISTORY|DETAIL] [AS JSON]."""

    def __init__(self, ctx: Context, reads: Reads):
        self.ctx, self.reads = ctx, reads

    def show(self, body: str) -> Result:
        for pattern, handler in (
            (r"SHOW\s+TBLPROPERTIES\s+(.+?)(?:\s*\(\s*(.+?)\s*\))?", self._show_properties),
            (r"SHOW\s+TABLE\s+EXTENDED(?:\s+(?:IN|FROM)\s+(\S+))?\s+LIKE\s+'([^']*)'", self._show_table_extended),
            (r"SHOW\s+(TABLES|VIEWS)(?:\s+(?:IN|FROM)\s+(\S+))?(?:\s+LIKE\s+'([^']*)')?", self._show_tables),
            (r"SHOW\s+(SCHEMAS|DATABASES)(?:\s+(?:IN|FROM)\s+(\S+))?(?:\s+LIKE\s+'([^']*)')?", self._show_schemas),
            (r"SHOW\s+CATALOGS(?:\s+LIKE\s+'([^']*)')?", self._show_catalogs),
            (r"SHOW\s+COLUMNS\s+(?:IN|FROM)\s+(\S+)(?:\s+(?:IN|FROM)\s+(\S+))?", self._show_columns),
            (r"SHOW\s+CREATE\s+TABLE\s+(\S+)(?:\s+AS\s+SERDE)?", self._show_create),
        ):
            m = re.fullmatch(pattern, body, re.I | re.S)
            if m:
                return handler(*m.groups())
        raise unsupported(" ".join(body.split()[:2]).upper())

    def _show_properties(self, name: str, key: str | None) -> Result:
        meta = self.ctx.lookup(table_arg(name))
        if key is None:
            items = sorted(meta.properties.items())
        else:
            key = sqlglot.parse_one(key, read="databricks").name
            items = [(key, meta.properties.get(key, f"Table {meta.display} does not have property: {key}"))]
        return Result(table_of(key=(pa.string(), [k for k, _ in items]), value=(pa.string(), [v for _, v in items])))

    def _schema_arg(self, text: str | None) -> tuple[str, str]:
        if not text:
            return self.ctx.current_catalog, self.ctx.current_schema
        parts = [check_name(p.name, "schema") for p in table_arg(text + ".x").parts[:-1]]
        catalog, schema = ([self.ctx.current_catalog] + parts)[-2:]
        return catalog, schema

    def _show_tables(self, what: str, namespace: str | None, pattern: str | None) -> Result:
        catalog, schema = self._schema_arg(namespace)
        self.ctx.meta.require_schema(catalog, schema)
        views_only = what.upper() == "VIEWS"
        found = [(t.name, False) for t in self.ctx.meta.all_tables(catalog)
                 if t.schema == schema and like(pattern, t.name) and (t.is_view or not views_only)]  # fmt: skip
        found += [(name, True) for name in sorted(self.ctx.temp_views) if like(pattern, name)]
        names = [n for n, _ in found]
        temporary = [t for _, t in found]
        namespace_ = [("" if t else schema) for t in temporary]
        if views_only:
            return Result(table_of(namespace=(pa.string(), namespace_), viewName=(pa.string(), names),
                                   isTemporary=(pa.bool_(), temporary), isMaterialized=(pa.bool_(), [False] * len(names))))  # fmt: skip
        return Result(table_of(database=(pa.string(), namespace_), tableName=(pa.string(), names),
                               isTemporary=(pa.bool_(), temporary)))  # fmt: skip

    def _show_table_extended(self, namespace: str | None, pattern: str) -> Result:
        """SHOW TABLE EXTENDED ... LIKE: a row per matching table or view with its `information` text (`*` and
        `|` in the pattern, as Databricks reads it)."""
        catalog, schema = self._schema_arg(namespace)
        self.ctx.meta.require_schema(catalog, schema)
        choices = [p.strip() for p in pattern.split("|")]
        found = [
            t for t in self.ctx.meta.all_tables(catalog) if t.schema == schema and any(like(p, t.name) for p in choices)
        ]
        return Result(
            table_of(
                database=(pa.string(), [schema] * len(found)),
                tableName=(pa.string(), [t.name for t in found]),
                isTemporary=(pa.bool_(), [False] * len(found)),
                information=(pa.string(), [information(t) for t in found]),
            )
        )

    def _show_schemas(self, _: str, catalog_text: str | None, pattern: str | None) -> Result:
        catalog = check_name(table_arg(catalog_text).name, "catalog") if catalog_text else self.ctx.current_catalog
        if not self.ctx.meta.catalog_exists(catalog):
            raise no_catalog(catalog)
        names = [s for s in sorted([*self.ctx.meta.schemas(catalog), "information_schema"]) if like(pattern, s)]
        return Result(table_of(databaseName=(pa.string(), names)))

    def _show_catalogs(self, pattern: str | None) -> Result:
        return Result(table_of(catalog=(pa.string(), [c for c in self.ctx.meta.catalogs() if like(pattern, c)])))

    def _show_columns(self, name: str, namespace: str | None) -> Result:
        table = table_arg(name)
        if namespace:
            table = table_arg(f"{namespace}.{table.name}")
        return Result(table_of(col_name=(pa.string(), [c.name for c in self.ctx.lookup(table).columns])))

    def _show_create(self, name: str) -> Result:
        meta = self.ctx.lookup(table_arg(name))
        return Result(table_of(createtab_stmt=(pa.string(), [create_statement(meta)])))

    def list_files(self, body: str) -> Result:
        """LIST '<path>' [LIMIT n]: the files and folders directly in a Volume folder (path, name, size,
        modification_time in epoch milliseconds; folders end in / and have size 0)."""
        m = re.fullmatch(r"\s*LIST\s+'((?:[^'\\]|\\.)*)'(?:\s+LIMIT\s+(\d+))?\s*;?\s*", body, re.I | re.S)
        if not m or not m.group(1).startswith(("/Volumes/", "dbfs:/Volumes/")):
            raise unsupported("LIST outside UC Volumes (use a /Volumes/<catalog>/<schema>/<volume>/ path)")
        url = m.group(1).removeprefix("dbfs:")
        _, local, _ = self.ctx.files.resolve(url)
        if not os.path.exists(local):
            raise LocalSQLError("PATH_NOT_FOUND", f"Path does not exist: {url}.", "42K03")
        folder = os.path.isdir(local)
        entries = [(os.path.join(local, n), n) for n in sorted(os.listdir(local)) if not n.startswith(".")] if folder else [(local, os.path.basename(local))]  # fmt: skip
        base = url.rstrip("/") if folder else url.rsplit("/", 1)[0]
        rows = []
        for path, name in entries[: int(m.group(2)) if m.group(2) else None]:
            shown = name + "/" if os.path.isdir(path) else name  # a folder: size 0, its name ends in /
            rows.append((f"{base}/{shown}", shown, 0 if shown.endswith("/") else os.path.getsize(path),
                         int(os.path.getmtime(path) * 1000)))  # fmt: skip
        names = ("path", "name", "size", "modification_time")
        types = (pa.string(), pa.string(), pa.int64(), pa.int64())
        return Result(
            table_of(**{n: (t, [r[i] for r in rows]) for i, (n, t) in enumerate(zip(names, types, strict=True))})
        )

    def listing(self, name: str, **filters: Any) -> Result:
        """The JDBC listing behind a Thrift metadata call."""
        f = filters
        if name == "catalogs":
            return Result(jdbc_catalogs(self.ctx.meta))
        if name == "schemas":
            return Result(jdbc_schemas(self.ctx.meta, f.get("catalog"), f.get("schema")))
        if name == "tables":
            return Result(jdbc_tables(self.ctx.meta, f.get("catalog"), f.get("schema"), f.get("table"), f.get("types")))
        if name == "columns":
            return Result(
                jdbc_columns(self.ctx.meta, f.get("catalog"), f.get("schema"), f.get("table"), f.get("column"))
            )
        if name == "type_info":
            return Result(jdbc_type_info())
        if name == "functions":
            names = [
                r[0] for r in self.ctx.con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
            ]
            return Result(jdbc_functions(names, f.get("catalog"), f.get("schema"), f.get("function")))
        if name == "primary_keys":
            return Result(jdbc_primary_keys(self.ctx.meta, f.get("catalog"), f.get("schema"), f.get("table")))
        if name == "cross_reference":
            parent = (f.get("parent_catalog"), f.get("parent_schema"), f.get("parent_table"))
            child = (f.get("foreign_catalog"), f.get("foreign_schema"), f.get("foreign_table"))
            return Result(jdbc_cross_reference(self.ctx.meta, parent, child))
        raise unsupported(f"the metadata listing {name}")

    def describe(self, e: exp.Describe) -> Result:
        if isinstance(e.this, exp.Table) is False:
            raise unsupported(f"DESCRIBE {e.this.sql('databricks')}")
        style = str(e.args.get("style") or "").upper()
        meta = self.ctx.lookup(e.this)
        if style == "HISTORY":
            return self.describe_history(meta)
        if style not in ("", "EXTENDED", "FORMATTED"):
            raise unsupported(f"DESCRIBE {style}")
        if e.args.get("as_json"):
            if not style:
                raise LocalSQLError(
                    "DESCRIBE_JSON_NOT_EXTENDED", "DESCRIBE ... AS JSON needs EXTENDED: DESCRIBE TABLE EXTENDED t AS JSON.",
                    "0A000",
                )  # fmt: skip
            return Result(table_of(json_metadata=(pa.string(), [json.dumps(describe_json(meta))])))
        rows: list[tuple[str, str | None, str | None]] = [
            (c.name, display_type(c.type), c.comment) for c in meta.columns
        ]
        for title, cols in (
            ("# Partition Information", meta.partitioned_by),
            ("# Clustering Information", meta.clustered_by),
        ):
            if cols and cols != ["AUTO"]:
                rows += [(title, "", ""), ("# col_name", "data_type", "comment")]
                rows += [(c.name, display_type(c.type), c.comment) for c in map(meta.column, cols) if c]
        if style:
            props = ",".join(f"{k}={v}" for k, v in sorted(meta.properties.items()))
            rows += [("", "", ""), ("# Detailed Table Information", "", "")]
            rows += [
                ("Catalog", meta.catalog, ""),
                ("Database", meta.schema, ""),
                ("Table", meta.name, ""),
                ("Created Time", meta.created_at, ""),
                ("Type", meta.kind, ""),
                ("Comment", meta.comment, ""),
                ("Location", f"dbload-local:/{meta.catalog}/{meta.schema}/{meta.name}", ""),
                ("Provider", meta.format, ""),
                ("Table Properties", f"[{props}]", ""),
            ]
            if meta.clustered_by:
                rows.append(("Clustering Columns", str(meta.clustered_by), ""))
            if meta.is_view:
                rows.append(("View Text", meta.view_text, ""))
            if meta.constraint_names:
                rows += [("", "", ""), ("# Constraints", "", "")]
                rows += [(name, definition, "") for name, definition in constraints(meta)]
        rows = [r for r in rows if r[1] is not None]  # e.g. no Comment row for a table without one
        names = ("col_name", "data_type", "comment")
        return Result(table_of(**{n: (pa.string(), [r[i] for r in rows]) for i, n in enumerate(names)}))

    def describe_query(self, text: str) -> Result:
        """DESCRIBE QUERY <query>: the result's columns and types, without running it."""
        try:
            query = sqlglot.parse_one(text, read="databricks")
        except sqlglot.errors.ParseError as e:
            raise syntax_error(e, text) from None
        fields = list(self.reads.source_schema(query))
        return Result(table_of(col_name=(pa.string(), [f.name for f in fields]),
                               data_type=(pa.string(), [display_type(dbx_type(f)) for f in fields]),
                               comment=(pa.string(), [None] * len(fields))))  # fmt: skip

    def describe_history(self, meta: TableMeta, limit: int | None = None) -> Result:
        """DESCRIBE HISTORY [LIMIT n]: the table's versions, newest first."""
        rows = self.ctx.meta.history(meta, limit)
        as_map = pa.map_(pa.string(), pa.string())
        return Result(
            table_of(
                version=(pa.int64(), [r[0] for r in rows]),
                timestamp=(pa.timestamp("us", "UTC"), [r[1] for r in rows]),
                userName=(pa.string(), [USER] * len(rows)),
                operation=(pa.string(), [r[2] for r in rows]),
                operationParameters=(as_map, [list(json.loads(r[3]).items()) for r in rows]),
                readVersion=(pa.int64(), [r[0] - 1 if r[0] else None for r in rows]),
                isolationLevel=(pa.string(), ["WriteSerializable"] * len(rows)),
                isBlindAppend=(pa.bool_(), [r[2] == "COPY INTO" for r in rows]),
                operationMetrics=(as_map, [list(json.loads(r[4]).items()) for r in rows]),
                engineInfo=(pa.string(), [f"dagster-dbload-local duckdb/{duckdb.__version__}"] * len(rows)),
            )
        )

    def describe_detail(self, meta: TableMeta) -> Result:
        rows = self.ctx.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0] if meta.columns else 0
        strings = pa.list_(pa.string())
        return Result(
            table_of(
                format=(pa.string(), [meta.format]),
                id=(pa.string(), [meta.id]),
                name=(pa.string(), [f"{meta.catalog}.{meta.schema}.{meta.name}"]),
                description=(pa.string(), [meta.comment]),
                location=(pa.string(), [f"dbload-local:/{meta.catalog}/{meta.schema}/{meta.name}"]),
                createdAt=(pa.timestamp("us", "UTC"), [datetime.fromisoformat(meta.created_at)]),
                lastModified=(pa.timestamp("us", "UTC"), [self.ctx.meta.last_modified(meta)]),
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


_SPARK_NAMES = {"bigint": "long", "int": "integer", "smallint": "short", "tinyint": "byte"}


def information(meta: TableMeta) -> str:
    """SHOW TABLE EXTENDED's `information` text: the detailed table information, then the schema as a tree."""
    lines = [
        f"Catalog: {meta.catalog}", f"Database: {meta.schema}", f"Table: {meta.name}", "Owner: local",
        f"Created Time: {meta.created_at}", "Last Access: UNKNOWN", "Created By: Spark", f"Type: {meta.kind}",
    ]  # fmt: skip
    if meta.is_view:
        lines.append(f"View Text: {meta.view_text}")
    else:
        props = ",".join(f"{k}={v}" for k, v in sorted(meta.properties.items()))
        lines += [
            f"Provider: {meta.format}", f"Location: dbload-local:/{meta.catalog}/{meta.schema}/{meta.name}",
            f"Table Properties: [{props}]",
        ]  # fmt: skip
    if meta.comment:  # last before the schema: readers take the text up to the next "Key:" line
        lines.append(f"Comment: {meta.comment}")
    lines.append("Schema: root")
    for c in meta.columns:
        kind = display_type(c.type)
        lines.append(f" |-- {c.name}: {_SPARK_NAMES.get(kind, kind)} (nullable = {str(c.nullable).lower()})")
    return "\n".join(lines) + "\n"


def describe_json(meta: TableMeta) -> dict[str, Any]:
    """DESCRIBE TABLE EXTENDED ... AS JSON, in Databricks' document format (fields the table lacks left out)."""
    doc: dict[str, Any] = {
        "table_name": meta.name,
        "catalog_name": meta.catalog,
        "schema_name": meta.schema,
        "namespace": [meta.schema],
        "type": meta.kind,
        "columns": [
            {
                "name": c.name,
                "type": json_type(c.type),
                **({"comment": c.comment} if c.comment else {}),
                "nullable": c.nullable,
            }
            for c in meta.columns
        ],  # fmt: skip
        "created_time": meta.created_at,
        "last_access": "UNKNOWN",
        "created_by": "Spark",
    }
    if meta.comment:
        doc["comment"] = meta.comment
    if meta.is_view:
        doc["view_text"] = meta.view_text
    else:
        doc["provider"] = meta.format
        doc["table_properties"] = dict(sorted(meta.properties.items()))
        if meta.partitioned_by:
            doc["partition_columns"] = list(meta.partitioned_by)
        if meta.clustered_by:
            doc["clustering_columns"] = [[c] for c in meta.clustered_by]
    if meta.constraint_names:
        doc["table_constraints"] = (
            "[" + ",".join(f"({name},{definition})" for name, definition in constraints(meta)) + "]"
        )
    return doc


def json_type(type_sql: str) -> dict[str, Any]:
    """A type as DESCRIBE ... AS JSON shows it: {"name": "decimal", "precision": 10, "scale": 2}, nested for
    ARRAY, MAP and STRUCT; TIMESTAMP is timestamp_ltz."""
    T = exp.DataType.Type
    dtype = exp.DataType.build(type_sql, dialect="databricks")
    if dtype.this == T.ARRAY:
        return {"name": "array", "element_type": json_type(dtype.expressions[0].sql("databricks")),
                "element_nullable": True}  # fmt: skip
    if dtype.this == T.MAP:
        key, value = (t.sql("databricks") for t in dtype.expressions)
        return {"name": "map", "key_type": json_type(key), "value_type": json_type(value), "value_nullable": True}
    if dtype.this == T.STRUCT:
        fields = [
            {"name": f.name, "type": json_type(f.args["kind"].sql("databricks")), "nullable": True}
            for f in dtype.expressions
        ]
        return {"name": "struct", "fields": fields}
    if dtype.this == T.DECIMAL:
        precision, scale = [*([int(p.name) for p in dtype.expressions] or [10]), 0][:2]  # DECIMAL(p) is (p,0)
        return {"name": "decimal", "precision": precision, "scale": scale}
    name = display_type(type_sql)
    return {"name": {"timestamp": "timestamp_ltz"}.get(name, name)}


def constraints(meta: TableMeta) -> list[tuple[str, str]]:
    """(name, definition) of the table's PRIMARY KEY, then its FOREIGN KEYs by name, as Databricks shows them."""
    key = (
        [(meta.primary_key_constraint, f"PRIMARY KEY ({', '.join(quote_dbx(c) for c in meta.primary_key)})")]
        if meta.primary_key
        else []
    )
    return key + sorted((f.name, f.definition) for f in meta.foreign_keys)


def create_statement(meta: TableMeta) -> str:
    """SHOW CREATE TABLE's text: the DDL that makes the table (or view) again."""
    if meta.is_view:
        return f"CREATE VIEW {meta.display} AS {meta.view_text}"
    lines = []
    for c in meta.columns:
        line = f"  {quote_dbx(c.name)} {c.type}" + ("" if c.nullable else " NOT NULL") + c.identity_clause
        lines.append(line + (f" COMMENT {literal(c.comment)}" if c.comment else ""))
    lines += [f"  CONSTRAINT {quote_dbx(name)} {definition}" for name, definition in constraints(meta)]
    text = f"CREATE TABLE {meta.display} (\n" + ",\n".join(lines) + f"\n)\nUSING {meta.format}"
    if meta.partitioned_by:
        text += f"\nPARTITIONED BY ({', '.join(quote_dbx(c) for c in meta.partitioned_by)})"
    if meta.clustered_by:
        text += f"\nCLUSTER BY ({', '.join(meta.clustered_by)})"
    if meta.comment:
        text += f"\nCOMMENT {literal(meta.comment)}"
    if meta.properties:
        props = ",\n".join(f"  {literal(k)} = {literal(v)}" for k, v in sorted(meta.properties.items()))
        text += f"\nTBLPROPERTIES (\n{props})"
    return text + "\n"
