"""Carries out Databricks SQL on DuckDB: parse with sqlglot's databricks dialect, dispatch to a statement family."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from . import functions
from .common import (
    Result,
    syntax_error,
    table_arg,
)
from .context import Context
from .ddl import Ddl
from .errors import LocalSQLError, from_duckdb, unsupported
from .files import FileResolver
from .merge import Merges
from .metadata import Metadata
from .params import bind
from .reads import Reads
from .session import SessionStatements
from .variables import SessionVariables
from .writes import Writes

logging.getLogger("sqlglot").setLevel(logging.ERROR)

_SCHEMA_EVOLUTION = re.compile(r"MERGE\s+WITH\s+SCHEMA\s+EVOLUTION\s+", re.I)
# ALTER TABLE t ADD COLUMN a DOUBLE, b TIMESTAMP (no parentheses): Databricks' list form, which sqlglot reads as
# a bare command; it is the same statement as ADD COLUMNS (a DOUBLE, b TIMESTAMP)
_ADD_COLUMN_LIST = re.compile(r"^(\s*ALTER\s+TABLE\s+\S+\s+ADD\s+)COLUMNS?\s+(?!\()(.*?)\s*;?\s*$", re.I | re.S)
_DEEP_CLONE = re.compile(r"(?<=\s)DEEP\s+CLONE(?=\s)", re.I)
_COMMENT_IS_NULL = re.compile(r"^(\s*COMMENT\s+ON\s+.+?\s+IS)\s+NULL\s*;?\s*$", re.I | re.S)
_HISTORY_LIMIT = re.compile(r"DESC(?:RIBE)?\s+HISTORY\s+(.+?)\s+LIMIT\s+(\d+)", re.I | re.S)
_LEADING_COMMENTS = re.compile(r"^(\s*(--[^\n]*\n|/\*.*?\*/))*\s*", re.S)


class LocalEngine:
    """One session of the local SQL warehouse over one DuckDB connection: parses each statement and hands it to its
    family (session statements, reads, DDL, writes, MERGE, metadata). The families share the session's `Context`
    and call each other only through public methods."""

    def __init__(self, files: FileResolver, catalog: str = "main", schema: str = "default"):
        self.ctx = Context(files, catalog, schema)
        self.session = SessionStatements(self.ctx)
        self.reads = Reads(self.ctx)
        self.ddl = Ddl(self.ctx, self.reads)
        self.writes = Writes(self.ctx, self.reads, self.ddl)
        self.merges = Merges(self.ctx, self.reads, self.writes)
        self.metadata = Metadata(self.ctx, self.reads)
        self.ctx.variables = SessionVariables(lambda sql, parameters: self._execute(sql, parameters))

    # what a connection asks of its session
    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        self.ctx.attach(con)

    @property
    def in_transaction(self) -> bool:
        return self.ctx.in_transaction

    @in_transaction.setter
    def in_transaction(self, value: bool) -> None:  # the connection closes with its transaction rolled back
        self.ctx.in_transaction = value

    def open_namespace(self, catalog: str | None, schema: str | None) -> None:
        self.ctx.open_namespace(catalog, schema)

    def configure(self, configuration: Mapping[str, str]) -> None:
        self.session.configure(configuration)

    def check_metadata_call(self) -> None:
        self.session.check_metadata_call()

    def listing(self, name: str, **filters: Any) -> Result:
        return self.metadata.listing(name, **filters)

    def export(self, sql: str, path: str) -> pa.Schema:
        """Run a query into a parquet file at `path`; the schema of its result."""
        statement = sqlglot.parse_one(_LEADING_COMMENTS.sub("", sql, count=1).rstrip().rstrip(";"), read="databricks")
        if not isinstance(statement, exp.Query):
            raise LocalSQLError("PARSE_SYNTAX_ERROR", "Only a query's rows can be streamed.", "42601")
        try:
            return self.reads.export(statement, path)
        except duckdb.Error as e:
            raise from_duckdb(e) from None

    # entry point
    def execute(self, sql: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> Result:
        body = _doubled_quotes(_LEADING_COMMENTS.sub("", sql, count=1).rstrip().rstrip(";").strip())
        try:
            self.session.statement_allowed(body)
            return self._execute(body, parameters)
        except BaseException:
            self.ctx.aborted = self.ctx.in_transaction
            raise

    def _execute(self, body: str, parameters: Mapping[str, Any] | Sequence[Any] | None) -> Result:
        assert self.ctx.variables is not None
        declared = self.ctx.variables.statement(body, parameters)
        if declared is not None:
            return declared
        session = self.session.session_statement(body)
        if session is not None:
            return session
        self.ctx.require_followed_settings(body)
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
                return self.merges.merge(statement, schema_evolution=evolve is not None)
            return self._dispatch(statement)
        except duckdb.Error as e:
            raise from_duckdb(e) from None

    def _dispatch(self, e: exp.Expr) -> Result:
        if isinstance(e, exp.Query):
            return self.reads.query(e)
        if isinstance(e, exp.Insert) and e.args.get("with_") and isinstance(e.expression, exp.Query):
            e = _with_on_query(e)
        if isinstance(e, (exp.Insert, exp.Delete, exp.Update)) and e.args.get("returning"):
            raise LocalSQLError(  # Databricks SQL has no RETURNING clause
                "PARSE_SYNTAX_ERROR", "Syntax error at or near 'RETURNING'.", "42601"
            )
        handlers: dict[type[exp.Expr], Callable[[Any], Result]] = {
            exp.Create: self.ddl.create,
            exp.Alter: self.ddl.alter,
            exp.Copy: self.writes.copy_into,
            exp.Insert: self.writes.insert,
            exp.Describe: self.metadata.describe,
            exp.Drop: self.ddl.drop,
            exp.Use: self.ddl.use,
            exp.Delete: self.writes.delete,
            exp.Update: self.writes.update,
            exp.TruncateTable: self.writes.truncate,
            exp.Comment: self.ddl.comment,
        }
        for kind, handler in handlers.items():
            if isinstance(e, kind):
                return handler(e)
        if isinstance(e, exp.Command):
            raise unsupported(f"{e.name.upper()} statements: {e.sql('databricks')}")
        raise unsupported(f"{type(e).__name__.upper()} statements")

    # statements sqlglot does not parse
    def _special(self, body: str) -> Result | None:
        words = body.split(None, 3)
        head = " ".join(w.upper() for w in words[:2])
        if head in ("DESCRIBE QUERY", "DESC QUERY"):
            return self.metadata.describe_query(body.split(None, 2)[2])
        if (
            len(words) > 1
            and words[0].upper() in ("DESCRIBE", "DESC")
            and words[1].upper() in ("SELECT", "WITH", "VALUES")
        ):
            return self.metadata.describe_query(body.split(None, 1)[1])  # QUERY is optional
        limited = _HISTORY_LIMIT.fullmatch(body)  # sqlglot does not parse DESCRIBE HISTORY's LIMIT
        if limited:
            return self.metadata.describe_history(self.ctx.lookup(table_arg(limited.group(1))), int(limited.group(2)))
        if head in ("DESCRIBE DETAIL", "DESC DETAIL"):
            return self.metadata.describe_detail(self.ctx.lookup(table_arg(body.split(None, 2)[2])))
        if words and words[0].upper() == "SHOW":
            return self.metadata.show(body)
        if re.match(
            r"ALTER\s+(TABLE|VIEW)\s+\S+\s+((ALTER|CHANGE)\s+(COLUMN\s+)?\S+\s+)?(SET|UNSET)\s+TAGS\b", body, re.I
        ):
            return self.ddl.tags(body)
        dropped = self.ddl.drop_key(body)
        if dropped is not None:
            return dropped
        if head == "INSERT INTO" and re.search(r"\bREPLACE\s+ON\b", body, re.I):
            return self.writes.insert_replace_on(body)
        if head == "CREATE CATALOG":
            return self.ddl.create_catalog(body)
        removed = _COMMENT_IS_NULL.match(body)  # COMMENT ON ... IS NULL removes the comment
        if removed:
            statement = sqlglot.parse_one(f"{removed.group(1)} ''", read="databricks")
            if not isinstance(statement, exp.Comment):  # e.g. COMMENT ON CATALOG, which sqlglot leaves a Command
                raise unsupported(f"{removed.group(1).strip()} NULL")
            statement.set("expression", exp.Null())
            return self.ddl.comment(statement)
        if head == "CREATE VOLUME":
            return self.ddl.create_volume(body)
        if words and words[0].upper() == "LIST":
            return self.metadata.list_files(body)
        if words and words[0].upper() in ("PUT", "GET", "REMOVE"):
            raise unsupported(f"{words[0].upper()} on a local connection (use LocalSQLWarehouseServer)")
        return None


def _with_on_query(insert: exp.Insert) -> exp.Insert:
    """WITH c AS (...) INSERT INTO t SELECT ... FROM c: the CTEs moved onto the query, where they are read."""
    insert = insert.copy()
    ctes = insert.args["with_"].expressions
    insert.set("with_", None)
    query = insert.expression
    own = query.args.get("with_")
    query.set("with_", exp.With(expressions=[*ctes, *(own.expressions if own else [])]))
    return insert


def _doubled_quotes(sql: str) -> str:
    """A quote doubled inside a string literal (`'it''s'`, `"S""park"`) is one quote in Databricks SQL (sqlglot
    would read two adjacent literals and join them without it): written as an escaped quote instead."""
    if "''" not in sql and '""' not in sql:
        return sql
    out, i, quote = [], 0, ""
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == "\\":
                out.append(sql[i : i + 2])
                i += 2
                continue
            if ch == quote and sql[i + 1 : i + 2] == quote:
                out.append("\\" + quote)
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "`":  # a quoted name: copied as it is
            end = sql.find("`", i + 1)
            end = len(sql) - 1 if end < 0 else end
            out.append(sql[i : end + 1])
            i = end + 1
            continue
        elif ch == "-" and sql[i + 1 : i + 2] == "-":  # a comment to the end of the line
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        out.append(ch)
        i += 1
    return "".join(out)
