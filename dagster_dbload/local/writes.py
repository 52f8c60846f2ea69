"""Loads: INSERT (OVERWRITE, REPLACE WHERE), COPY INTO, DELETE."""

from __future__ import annotations

import re

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ..sql import end_of_quoted
from ..types import databricks_to_duckdb, fits
from .catalog import Column, TableMeta, enabled, quote_dbx, quote_duck
from .columns import dbx_type
from .common import (
    Result,
    counts,
    fail,
    unresolved_column,
)
from .context import Context
from .ddl import Ddl
from .errors import LocalSQLError, unsupported
from .reads import Reads


class Writes:
    """Statements that add or remove rows (MERGE has its own family)."""

    def __init__(self, ctx: Context, reads: Reads, ddl: Ddl):
        self.ctx, self.reads, self.ddl = ctx, reads, ddl

    def insert(self, e: exp.Insert) -> Result:
        target = e.this.this if isinstance(e.this, exp.Schema) else e.this
        meta = self.ctx.lookup(target)
        if not meta.columns:
            raise LocalSQLError(
                "DELTA_SCHEMA_NOT_SET",
                f"Table {meta.display} has no schema; write it with COPY INTO and "
                "COPY_OPTIONS ('mergeSchema' = 'true') or define its columns first.",
                "KD008",
            )
        names = [i.name for i in e.this.expressions] if isinstance(e.this, exp.Schema) else None
        if e.expression is None and isinstance(e.args.get("source"), exp.Table):  # ... TABLE t: all of t's rows
            e = e.copy()
            e.set("expression", exp.select("*").from_(e.args["source"].copy()))
        source_schema = self.reads.source_schema(e.expression)
        if e.args.get("by_name"):
            names = [f.name for f in source_schema]
        columns = [meta.column(n) or fail(unresolved_column(n, meta)) for n in names or []] or meta.columns
        if len(columns) != len(source_schema):
            raise LocalSQLError(
                "INSERT_COLUMN_ARITY_MISMATCH",
                f"Cannot write to {meta.display}, the reason is {'not enough' if len(source_schema) < len(columns) else 'too many'} "
                f"data columns: table columns {[c.name for c in columns]}, data columns {source_schema.names}.",
                "21S01",
            )
        source = f"({self.reads.to_duckdb(e.expression)}) AS __src({', '.join(quote_duck(c.name) for c in columns)})"
        where = e.args.get("where")
        overwrite = bool(e.args.get("overwrite"))
        with self.ctx.transaction():
            if where is not None:
                predicate = self.reads.to_duckdb(where)
                bad = self.ctx.con.execute(f"SELECT count(*) FROM {source} WHERE NOT coalesce({predicate}, false)")
                if bad.fetchall()[0][0]:
                    raise LocalSQLError(
                        "DELTA_REPLACE_WHERE_MISMATCH",
                        "Written data does not conform to partial table overwrite condition or constraint "
                        f"'{where.sql('databricks')}'.",
                        "44000",
                    )
                self.ctx.changes.record(meta, "delete", predicate)
                self.ctx.con.execute(f"DELETE FROM {meta.duck} WHERE {predicate}")
            elif overwrite:
                self.ctx.changes.record(meta, "delete")
                self.ctx.con.execute(f"DELETE FROM {meta.duck}")
            inserted = self._append(meta, columns, f"SELECT {_assigned(columns, source_schema)} FROM {source}")
            mode = "Overwrite" if overwrite or where is not None else "Append"
            params = {"mode": mode, **({"predicate": where.sql("databricks")} if where is not None else {})}
            self.ctx.meta.commit(meta, "WRITE", params, {"numOutputRows": inserted, "numFiles": 1})
        return counts(num_affected_rows=inserted, num_inserted_rows=inserted)

    def insert_replace_on(self, body: str) -> Result | None:
        """INSERT INTO [TABLE] t [AS a] REPLACE ON (<condition>) (<query>) AS b: target rows that the condition
        matches with any query row are deleted and the query's rows inserted, in one commit. None when `body`
        is another statement."""
        m = re.match(r"INSERT\s+INTO\s+(?:TABLE\s+)?(\S+)(?:\s+AS\s+(\S+))?\s+REPLACE\s+ON\s*\(", body, re.I | re.S)
        if not m:
            return None
        condition, rest = _parenthesized(body, m.end() - 1)
        query_at = rest.find("(")
        if query_at < 0 or rest[:query_at].strip():
            raise LocalSQLError(
                "PARSE_SYNTAX_ERROR", "REPLACE ON (<condition>) must be followed by (<query>) AS <alias>.", "42601"
            )
        query, tail = _parenthesized(rest, query_at)
        alias = re.fullmatch(r"\s*(?:AS\s+)?(\S+)\s*;?\s*", tail, re.I)
        if alias is None:
            raise LocalSQLError(
                "PARSE_SYNTAX_ERROR", f"Unexpected text after the REPLACE ON query: {tail.strip()!r}.", "42601"
            )
        target = sqlglot.parse_one(m.group(1), read="databricks", into=exp.Table)
        meta = self.ctx.lookup(target)
        target_alias, source_alias = (_unquoted(m.group(2)) if m.group(2) else target.name), alias.group(1)
        select = sqlglot.parse_one(query, read="databricks")
        source_schema = self.reads.source_schema(select)
        columns = [meta.column(f.name) or fail(unresolved_column(f.name, meta)) for f in source_schema]
        matched = sqlglot.parse_one(
            f"SELECT 1 FROM ({query}) AS {source_alias} WHERE {condition}", read="databricks"
        )  # fmt: skip
        source = f"({self.reads.to_duckdb(select)}) AS __src({', '.join(quote_duck(c.name) for c in columns)})"
        exists = f"EXISTS ({self.reads.to_duckdb(matched)})"
        with self.ctx.transaction():
            self.ctx.changes.record(meta, "delete", exists, quote_duck(target_alias))
            deleted = self.ctx.con.execute(
                f"DELETE FROM {meta.duck} AS {quote_duck(target_alias)} WHERE {exists}"
            ).fetchall()[0][0]
            inserted = self._append(meta, columns, f"SELECT {_assigned(columns, source_schema)} FROM {source}")
            self.ctx.meta.commit(meta, "WRITE", {"mode": "Overwrite", "replaceOn": condition},
                             {"numOutputRows": inserted, "numDeletedRows": deleted, "numFiles": 1})  # fmt: skip
        return counts(num_affected_rows=inserted + deleted, num_inserted_rows=inserted)

    def _append(self, meta: TableMeta, columns: list[Column], select_sql: str) -> int:
        for column in columns:  # GENERATED ALWAYS: the table numbers the rows itself
            if column.identity and column.identity["always"]:
                raise LocalSQLError(
                    "DELTA_IDENTITY_COLUMNS_EXPLICIT_INSERT_NOT_SUPPORTED",
                    f"Providing values for GENERATED ALWAYS AS IDENTITY column {quote_dbx(column.name)} is not "
                    "supported: leave it out of the inserted columns.",
                    "42808",
                )
        cols = ", ".join(quote_duck(c.name) for c in columns)
        mark = self.ctx.changes.mark(meta)
        inserted = self.ctx.con.execute(f"INSERT INTO {meta.duck} ({cols}) {select_sql}").fetchall()[0][0]
        self.ctx.changes.inserted(meta, mark)
        return inserted

    def delete(self, e: exp.Delete) -> Result:
        meta = self.ctx.lookup(e.this)
        where = e.args.get("where")
        with self.ctx.transaction():
            alias = e.this.args.get("alias")  # DELETE FROM t AS d WHERE d.id = ...
            name = quote_duck(alias.name) if alias is not None else None
            target = f"{meta.duck} AS {name}" if name else meta.duck
            condition = self.reads.to_duckdb(where.this, meta) if where else "true"
            self.ctx.changes.record(meta, "delete", condition, name)
            sql = f"DELETE FROM {target} WHERE {condition}"
            deleted = self.ctx.con.execute(sql).fetchall()[0][0]
            self.ctx.meta.commit(
                meta,
                "DELETE",
                {"predicate": where.this.sql("databricks") if where else ""},
                {"numDeletedRows": deleted},
            )
        return counts(num_affected_rows=deleted)

    def update(self, e: exp.Update) -> Result:
        """UPDATE t [AS a] SET c = v, ... [WHERE ...]."""
        meta = self.ctx.lookup(e.this)
        if meta.is_view:
            raise LocalSQLError("EXPECT_TABLE_NOT_VIEW.NO_ALTERNATIVE", f"UPDATE expects a table, {meta.display} is a view.", "42809")  # fmt: skip
        for assignment in e.expressions:
            meta.column(assignment.this.name) or fail(unresolved_column(assignment.this.name, meta))
        with self.ctx.transaction():
            rows = self._changed_rows(meta, e.this, e.args.get("where"))
            self.ctx.changes.record(meta, "update_preimage", rows)
            updated = self.ctx.con.execute(self.reads.to_duckdb(e)).fetchall()[0][0]
            self.ctx.changes.record(meta, "update_postimage", rows)
            self.ctx.meta.commit(meta, "UPDATE", {"predicate": e.args["where"].this.sql("databricks") if e.args.get("where") else ""},
                             {"numUpdatedRows": updated})  # fmt: skip
        return counts(num_affected_rows=updated)

    def _changed_rows(self, meta: TableMeta, target: exp.Table, where: exp.Where | None) -> str:
        """With the change feed on: a condition on `rowid` for the rows an UPDATE's WHERE selects, noted now (an
        update keeps row ids); else "false"."""
        if not enabled(meta):
            return "false"
        alias = target.args.get("alias")
        name = quote_duck(alias.name) if alias is not None else meta.duck
        source = f"{meta.duck} AS {name}" if alias is not None else meta.duck
        condition = self.reads.to_duckdb(where.this, meta) if where else "true"
        self.ctx.con.execute(
            f"CREATE OR REPLACE TEMP TABLE __dbload_changed AS SELECT {name}.rowid AS rid FROM {source} WHERE {condition}"
        )
        return "rowid IN (SELECT rid FROM __dbload_changed)"

    def truncate(self, e: exp.TruncateTable) -> Result:
        """TRUNCATE TABLE t: every row removed, as one new version."""
        for table in e.expressions:
            meta = self.ctx.lookup(table)
            with self.ctx.transaction():
                if meta.columns:
                    self.ctx.changes.record(meta, "delete")
                removed = self.ctx.con.execute(f"DELETE FROM {meta.duck}").fetchall()[0][0] if meta.columns else 0
                self.ctx.meta.commit(meta, "TRUNCATE", {}, {"numRemovedRows": removed})
        return Result()

    def copy_into(self, e: exp.Copy) -> Result:
        meta = self.ctx.lookup(e.this)
        params = {p.name.upper(): p for p in e.args.get("params", [])}
        if e.args.get("credentials") and e.args["credentials"].args:
            raise unsupported("COPY INTO ... WITH (CREDENTIAL ...) on this local warehouse")
        if params.get("FILEFORMAT") is None or params["FILEFORMAT"].expression.name.upper() != "PARQUET":
            raise unsupported("COPY INTO with a FILEFORMAT other than PARQUET")
        copy_options = options(params.get("COPY_OPTIONS"))
        options(params.get("FORMAT_OPTIONS"))  # mergeSchema across files is what union_by_name does
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
        found = self.ctx.files.list_files(sources[0].name, names, pattern)
        force = copy_options.get("force", "false").lower() == "true"
        merge_schema = copy_options.get("mergeschema", "false").lower() == "true"
        new_files = found if force else sorted(set(found) - self.ctx.meta.loaded_files(meta))
        if not new_files:
            return counts(num_affected_rows=0, num_inserted_rows=0, num_skipped_corrupt_files=0)
        source = self.reads.parquet_source(new_files, None).sql("duckdb")
        schema = self.ctx.con.sql(f"SELECT * FROM {source} LIMIT 0").to_arrow_table().schema
        with self.ctx.transaction():
            self.evolve(meta, schema, merge_schema)
            columns = [meta.column(f.name) or fail(unresolved_column(f.name, meta)) for f in schema]  # evolved
            select = ", ".join(quote_duck(f.name) for f in schema)
            inserted = self._append(meta, columns, f"SELECT {select} FROM {source}")
            self.ctx.meta.mark_loaded(meta, new_files)
            self.ctx.meta.commit(
                meta,
                "COPY INTO",
                {"force": force, "mergeSchema": merge_schema},
                {"numOutputRows": inserted, "numFiles": len(new_files)},
            )
        return counts(num_affected_rows=inserted, num_inserted_rows=inserted, num_skipped_corrupt_files=0)

    def evolve(self, meta: TableMeta, source: pa.Schema, merge_schema: bool) -> None:
        """Check the source columns against the table; with mergeSchema, add the new ones."""
        new: list[Column] = []
        for field in source:
            column = meta.column(field.name)
            source_type = dbx_type(field)
            if column is None:
                new.append(Column(field.name, source_type))
            elif not fits(source_type, column.type):
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
            self.ddl.add_columns(meta, new)


def _parenthesized(text: str, start: int) -> tuple[str, str]:
    """The text inside the parentheses opening at `start` (quotes and nesting respected), and what follows."""
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if ch in "'\"`":
            i = end_of_quoted(text, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], text[i + 1 :]
        i += 1
    raise LocalSQLError("PARSE_SYNTAX_ERROR", "Unbalanced parentheses in INSERT ... REPLACE ON.", "42601")


def _unquoted(name: str) -> str:
    return name.strip("`")


def _assigned(columns: list[Column], source: pa.Schema) -> str:
    """The inserted values; strings stored into TIMESTAMP columns are read as Databricks reads them, including
    offsets written `+0000` or ` +00:00` (the connector's own literals), which DuckDB's implicit cast refuses."""
    values = []
    for column, field in zip(columns, source, strict=True):
        name = quote_duck(column.name)
        if pa.types.is_string(field.type) and column.type.upper().startswith("TIMESTAMP"):
            name = f"CAST(regexp_replace({name}, '\\s*([+-]\\d{{2}}):?(\\d{{2}})$', '\\1:\\2') AS {databricks_to_duckdb(column.type)})"
        values.append(name)
    return ", ".join(values)


def options(parameter: exp.Expr | None) -> dict[str, str]:
    """FORMAT_OPTIONS / COPY_OPTIONS as a dict with lower-case keys."""
    if parameter is None:
        return {}
    return {p.name.lower(): p.args["value"].name for p in parameter.expressions if isinstance(p, exp.Property)}
