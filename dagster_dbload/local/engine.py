"""Carries out Databricks SQL on DuckDB: parse with sqlglot's databricks dialect, dispatch to a statement family."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from . import decimals, functions
from .catalog import Catalog, TableMeta, check_name, quote_dbx
from .common import (
    Result,
    no_catalog,
    syntax_error,
    table_arg,
    table_of,
)
from .ddl import Ddl
from .errors import LocalSQLError, from_duckdb, table_not_found, unsupported
from .files import FileResolver
from .merge import Merges
from .metadata import Metadata
from .params import bind
from .reads import Reads
from .session import SessionStatements
from .writes import Writes

logging.getLogger("sqlglot").setLevel(logging.ERROR)

_SCHEMA_EVOLUTION = re.compile(r"MERGE\s+WITH\s+SCHEMA\s+EVOLUTION\s+", re.I)
# ALTER TABLE t ADD COLUMN a DOUBLE, b TIMESTAMP (no parentheses): Databricks' list form, which sqlglot reads as
# a bare command; it is the same statement as ADD COLUMNS (a DOUBLE, b TIMESTAMP)
_ADD_COLUMN_LIST = re.compile(r"^(\s*ALTER\s+TABLE\s+\S+\s+ADD\s+)COLUMNS?\s+(?!\()(.*?)\s*;?\s*$", re.I | re.S)
_DEEP_CLONE = re.compile(r"(?<=\s)DEEP\s+CLONE(?=\s)", re.I)
_COMMENT_IS_NULL = re.compile(r"^(\s*COMMENT\s+ON\s+.+?\s+IS)\s+NULL\s*;?\s*$", re.I | re.S)
_LEADING_COMMENTS = re.compile(r"^(\s*(--[^\n]*\n|/\*.*?\*/))*\s*", re.S)


class LocalEngine(SessionStatements, Reads, Ddl, Writes, Merges, Metadata):
    """One session of the local SQL warehouse over one DuckDB connection: parses each statement and hands it
    to its family (reads, DDL, writes, MERGE, metadata), which share the session's names and transactions."""

    def __init__(self, files: FileResolver, catalog: str = "main", schema: str = "default"):
        self.files = files
        self.current_catalog = catalog.lower()
        self.current_schema = schema.lower()
        self.settings: dict[str, str] = {}
        self.temp_views: dict[str, TableMeta] = {}
        self.autocommit, self.in_transaction, self.aborted = True, False, False

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Run the session's next statements on `con` (the file is opened again after it was released)."""
        self.con = con
        self.meta = Catalog(con)
        decimals.install(con)
        self._apply_settings()

    # entry point
    def execute(self, sql: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> Result:
        body = _LEADING_COMMENTS.sub("", sql, count=1).rstrip().rstrip(";").strip()
        try:
            self.statement_allowed(body)
            return self._execute(body, parameters)
        except BaseException:
            self.aborted = self.in_transaction
            raise

    def _execute(self, body: str, parameters: Mapping[str, Any] | Sequence[Any] | None) -> Result:
        special = self._special(body)
        if special is not None:
            return special
        evolve = _SCHEMA_EVOLUTION.match(body)
        if evolve:
            body = "MERGE " + body[evolve.end() :]
        body = _DEEP_CLONE.sub("CLONE", body)  # CLONE is a deep clone unless SHALLOW
        listed = _ADD_COLUMN_LIST.match(body)
        if listed:
            body = f"{listed.group(1)}COLUMNS ({listed.group(2)})"
        functions.refuse_lost_arguments(body)
        try:
            statements = [s for s in sqlglot.parse(body, read="databricks") if s is not None]
        except ParseError as e:
            raise syntax_error(e, body) from None
        if len(statements) != 1:
            raise LocalSQLError("PARSE_SYNTAX_ERROR", "Send exactly one statement per execute() call.", "42601")
        statement = bind(statements[0], parameters)
        try:
            if isinstance(statement, exp.Merge):
                return self._merge(statement, schema_evolution=evolve is not None)
            return self._dispatch(statement)
        except duckdb.Error as e:
            raise from_duckdb(e) from None

    def _dispatch(self, e: exp.Expression) -> Result:
        if isinstance(e, exp.Query):
            return self._query(e)
        if isinstance(e, exp.Insert) and e.args.get("with_") and isinstance(e.expression, exp.Query):
            e = _with_on_query(e)
        if isinstance(e, (exp.Insert, exp.Delete, exp.Update)) and e.args.get("returning"):
            raise LocalSQLError(  # Databricks SQL has no RETURNING clause
                "PARSE_SYNTAX_ERROR", "Syntax error at or near 'RETURNING'.", "42601"
            )
        handlers = {
            exp.Create: self._create,
            exp.Alter: self._alter,
            exp.Copy: self._copy_into,
            exp.Insert: self._insert,
            exp.Describe: self._describe,
            exp.Drop: self._drop,
            exp.Use: self._use,
            exp.Delete: self._delete,
            exp.Update: self._update,
            exp.TruncateTable: self._truncate,
            exp.Comment: self._comment,
        }
        for kind, handler in handlers.items():
            if isinstance(e, kind):
                return handler(e)
        if isinstance(e, exp.Command):
            raise unsupported(f"{e.name.upper()} statements: {e.sql('databricks')}")
        raise unsupported(f"{type(e).__name__.upper()} statements")

    # statements sqlglot does not parse
    def _special(self, body: str) -> Result | None:
        session = self._session_statement(body)
        if session is not None:
            return session
        words = body.split(None, 3)
        head = " ".join(w.upper() for w in words[:2])
        if head in ("DESCRIBE QUERY", "DESC QUERY"):
            return self._describe_query(body.split(None, 2)[2])
        if head in ("DESCRIBE DETAIL", "DESC DETAIL"):
            return self._describe_detail(self._lookup(table_arg(body.split(None, 2)[2])))
        if words and words[0].upper() == "SHOW":
            return self._show(body)
        if re.match(
            r"ALTER\s+(TABLE|VIEW)\s+\S+\s+((ALTER|CHANGE)\s+(COLUMN\s+)?\S+\s+)?(SET|UNSET)\s+TAGS\b", body, re.I
        ):
            return self._tags(body)
        dropped = self._drop_key(body)
        if dropped is not None:
            return dropped
        if head == "INSERT INTO" and re.search(r"\bREPLACE\s+ON\b", body, re.I):
            return self._insert_replace_on(body)
        if head == "CREATE CATALOG":
            return self._create_catalog(body)
        removed = _COMMENT_IS_NULL.match(body)  # COMMENT ON ... IS NULL removes the comment
        if removed:
            statement = sqlglot.parse_one(f"{removed.group(1)} ''", read="databricks")
            return self._comment(statement.set("expression", exp.Null()) or statement)
        if head == "CREATE VOLUME":
            return self._create_volume(body)
        if words and words[0].upper() == "LIST":
            return self._list(body)
        if words and words[0].upper() in ("PUT", "GET", "REMOVE"):
            raise unsupported(f"{words[0].upper()} on a local connection (use LocalSQLWarehouseServer)")
        return None

    def _list(self, body: str) -> Result:
        """LIST '<path>' [LIMIT n]: the files and folders directly in a Volume folder (path, name, size,
        modification_time in epoch milliseconds; folders end in / and have size 0)."""
        m = re.fullmatch(r"\s*LIST\s+'((?:[^'\\]|\\.)*)'(?:\s+LIMIT\s+(\d+))?\s*;?\s*", body, re.I | re.S)
        if not m or not m.group(1).startswith(("/Volumes/", "dbfs:/Volumes/")):
            raise unsupported("LIST outside UC Volumes (use a /Volumes/<catalog>/<schema>/<volume>/ path)")
        url = m.group(1).removeprefix("dbfs:")
        _, local, _ = self.files.resolve(url)
        if not os.path.exists(local):
            raise LocalSQLError("PATH_NOT_FOUND", f"Path does not exist: {url}.", "42K03")
        entries = [(local, os.path.basename(local))] if os.path.isfile(local) else [
            (os.path.join(local, name), name) for name in sorted(os.listdir(local)) if not name.startswith(".")
        ]  # fmt: skip
        base = url.rstrip("/") if os.path.isdir(local) else url.rsplit("/", 1)[0]
        rows = [
            (f"{base}/{name}" + ("/" if os.path.isdir(path) else ""), name + ("/" if os.path.isdir(path) else ""),
             0 if os.path.isdir(path) else os.path.getsize(path), int(os.path.getmtime(path) * 1000))
            for path, name in entries
        ][: int(m.group(2)) if m.group(2) else None]  # fmt: skip
        names = ("path", "name", "size", "modification_time")
        types = (pa.string(), pa.string(), pa.int64(), pa.int64())
        return Result(
            table_of(**{n: (t, [r[i] for r in rows]) for i, (n, t) in enumerate(zip(names, types, strict=True))})
        )

    def open_namespace(self, catalog: str | None, schema: str | None) -> None:
        if catalog:
            catalog = check_name(catalog, "catalog")
            if not self.meta.catalog_exists(catalog):
                raise no_catalog(catalog)
            self.current_catalog, self.current_schema = catalog, "default"
        if schema:
            self.current_schema = check_name(schema, "schema")

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
        if not table.db and table.name.lower() in self.temp_views:
            return self.temp_views[table.name.lower()]
        catalog, schema, name = self._resolve(table)
        meta = self.meta.get_table(catalog, schema, name)
        if meta is None:
            raise table_not_found(quote_dbx(catalog, schema, name))
        return meta

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One statement's changes commit together (inside an interactive transaction, with it)."""
        if self.in_transaction:
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")


def _with_on_query(insert: exp.Insert) -> exp.Insert:
    """WITH c AS (...) INSERT INTO t SELECT ... FROM c: the CTEs moved onto the query, where they are read."""
    insert = insert.copy()
    ctes = insert.args["with_"].expressions
    insert.set("with_", None)
    query = insert.expression
    own = query.args.get("with_")
    query.set("with_", exp.With(expressions=[*ctes, *(own.expressions if own else [])]))
    return insert
