"""DB-API surface of the local warehouse: the same cursor methods databricks-sql-connector offers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
from databricks.sql.types import Row

from ..types import describe_type
from .common import Result
from .engine import LocalEngine
from .files import FileResolver

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: str) -> threading.RLock:
    """One statement at a time per warehouse file within a process (DuckDB writers would conflict)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.RLock())


class LocalCursor:
    """A cursor: execute, fetch rows or Arrow, description, rowcount."""

    arraysize = 10000

    def __init__(self, connection: LocalConnection):
        self.connection = connection
        self._result: Result | None = None
        self._offset = 0
        self.rowcount = -1

    def execute(self, operation: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> LocalCursor:
        self._result = self.connection.execute(operation, parameters)
        self._offset = 0
        self.rowcount = self._result.rowcount
        return self

    @property
    def description(self) -> list[tuple] | None:
        if self._result is None or self._result.table is None:
            return None
        return [
            (f.name, describe_type(f.type), None, None, *_precision_scale(f.type), f.nullable)
            for f in self._result.table.schema
        ]

    def _take(self, size: int | None) -> pa.Table:
        if self._result is None or self._result.table is None:
            raise duckdb.InvalidInputException("No result set: execute a query first.")
        table = self._result.table
        end = table.num_rows if size is None else min(table.num_rows, self._offset + size)
        chunk = table.slice(self._offset, end - self._offset)
        self._offset = end
        return chunk

    def _listing(self, name: str, **filters: Any) -> LocalCursor:
        self._result = self.connection.listing(name, **filters)
        self._offset, self.rowcount = 0, -1
        return self

    def catalogs(self) -> LocalCursor:
        return self._listing("catalogs")

    def schemas(self, catalog_name: str | None = None, schema_name: str | None = None) -> LocalCursor:
        return self._listing("schemas", catalog=catalog_name, schema=schema_name)

    def tables(self, catalog_name: str | None = None, schema_name: str | None = None, table_name: str | None = None,
               table_types: list[str] | None = None) -> LocalCursor:  # fmt: skip
        return self._listing("tables", catalog=catalog_name, schema=schema_name, table=table_name, types=table_types)

    def columns(self, catalog_name: str | None = None, schema_name: str | None = None, table_name: str | None = None,
                column_name: str | None = None) -> LocalCursor:  # fmt: skip
        return self._listing("columns", catalog=catalog_name, schema=schema_name, table=table_name, column=column_name)

    def fetchall_arrow(self) -> pa.Table:
        return self._take(None)

    def fetchmany_arrow(self, size: int) -> pa.Table:
        return self._take(size)

    def fetchall(self) -> list[Row]:
        return _rows(self._take(None))

    def fetchmany(self, size: int | None = None) -> list[Row]:
        return _rows(self._take(size or self.arraysize))

    def fetchone(self) -> Row | None:
        rows = _rows(self._take(1))
        return rows[0] if rows else None

    def close(self) -> None:
        self._result = None

    def __enter__(self) -> LocalCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalConnection:
    """A session on the local warehouse. It holds the DuckDB file only while statements run (released after
    `idle_seconds` without one), so other processes can write between them; close it (or use `with`)."""

    def __init__(self, opener: Callable[[], duckdb.DuckDBPyConnection], path: str, files: FileResolver,
                 catalog: str, schema: str, idle_seconds: float = 0.05):  # fmt: skip
        self.path = path
        self._opener = opener
        self._idle_seconds = idle_seconds
        self._timer: threading.Timer | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self.engine = LocalEngine(files, catalog, schema)
        with self._statement():  # the file is opened (and waited for) on connect, as before
            pass

    @contextlib.contextmanager
    def _statement(self) -> Iterator[None]:
        with _lock_for(self.path):
            if self._timer is not None:
                self._timer.cancel()
            if self._con is None:
                self._con = self._opener()
                self.engine.attach(self._con)
            try:
                yield
            finally:
                if not self.engine.in_transaction:  # a transaction keeps the file until COMMIT / ROLLBACK
                    self._timer = threading.Timer(self._idle_seconds, self._release)
                    self._timer.daemon = True
                    self._timer.start()

    def execute(self, operation: str, parameters: Mapping[str, Any] | Sequence[Any] | None) -> Result:
        with self._statement():
            return self.engine.execute(operation, parameters)

    def export(self, operation: str, path: str) -> pa.Schema:
        """Run a query into a parquet file at `path` (for streamed reads: the file is released at once)."""
        with self._statement():
            return self.engine.export(operation, path)

    def open_session(self, catalog: str | None, schema: str | None, configuration: Mapping[str, str]) -> None:
        """A session's initial catalog and schema (the schema need not exist yet, as on Databricks) and its
        session configuration, set as SET would set it."""
        with self._statement():
            self.engine.open_namespace(catalog, schema)
            self.engine.configure(configuration)

    def listing(self, name: str, **filters: Any) -> Result:
        """A JDBC metadata listing (catalogs, schemas, tables, columns, type_info, functions, primary_keys,
        cross_reference) as the Thrift metadata calls return it."""
        with self._statement():
            self.engine.check_metadata_call()
            return self.engine.listing(name, **filters)

    def interrupt(self) -> None:
        """Interrupt the statement running on this connection (from another thread)."""
        con = self._con
        if con is not None:
            con.interrupt()

    def _release(self) -> None:
        with _lock_for(self.path):
            if self._con is not None:
                self._con.close()
                self._con = None

    def cursor(self) -> LocalCursor:
        return LocalCursor(self)

    def commit(self) -> None:
        """Commit the open transaction, if any (statements commit on their own otherwise, as on Databricks)."""
        if self.engine.in_transaction:
            self.execute("COMMIT", None)

    def rollback(self) -> None:
        if self.engine.in_transaction:
            self.execute("ROLLBACK", None)

    def close(self) -> None:
        """Close the session; an open transaction is rolled back."""
        if self._timer is not None:
            self._timer.cancel()
        with _lock_for(self.path):
            if self._con is not None and self.engine.in_transaction:
                self._con.execute("ROLLBACK")
            self.engine.in_transaction = False
        self._release()

    def __enter__(self) -> LocalConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rows(table: pa.Table) -> list[Row]:
    make = Row(*table.column_names)
    return [make(*values) for values in zip(*(c.to_pylist() for c in table.columns), strict=True)]


def _precision_scale(dtype: pa.DataType) -> tuple[int | None, int | None]:
    if pa.types.is_decimal(dtype):
        return dtype.precision, dtype.scale
    return None, None
