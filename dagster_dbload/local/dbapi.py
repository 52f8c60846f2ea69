"""DB-API surface of the local warehouse: the same cursor methods databricks-sql-connector offers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
from databricks.sql.types import Row

from .. import timers
from ..types import describe_type
from .common import Result
from .engine import LocalEngine
from .errors import LocalSQLError
from .files import FileResolver

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_REINTERRUPT_SECONDS = 0.05


def cancelled_error() -> LocalSQLError:
    return LocalSQLError("OPERATION_CANCELED", "The statement was cancelled.", "HY008")


def session_closed_error() -> LocalSQLError:
    return LocalSQLError("INVALID_HANDLE.SESSION_CLOSED", "The session was closed: open a new one.", "HY000")


class Cancellation:
    """One statement's cancel, decided under its connection's guard whenever it comes: before the statement
    starts (it then never runs), while it runs (it ends with OPERATION_CANCELED), or after it ended (no effect)."""

    def __init__(self) -> None:
        self.requested = False
        self.ended = False
        self.stopped = threading.Event()  # set when the statement no longer runs


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
        self._cancellation: Cancellation | None = None
        self._offset = 0
        self.rowcount = -1

    def execute(self, operation: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None, *,
                cancellation: Cancellation | None = None) -> LocalCursor:  # fmt: skip
        """Run a statement; `cancellation` (default: a new one) lets another thread cancel it, even before it starts."""
        self._cancellation = cancellation or Cancellation()
        try:
            self._result = self.connection.execute(operation, parameters, self._cancellation)
        finally:
            self._cancellation = None
        self._offset = 0
        self.rowcount = self._result.rowcount
        return self

    def cancel(self) -> None:
        """Cancel the statement this cursor runs (from another thread); nothing if none runs."""
        cancellation = self._cancellation
        if cancellation is not None:
            self.connection.cancel(cancellation)

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
    `idle_seconds` without one), so other processes can write between them; close it (or use `with`).

    `cancel` and `close` may come from any thread. `cancel` interrupts a statement and never waits for it;
    `close` cancels the running one, then waits for it to stop before releasing the file."""

    def __init__(self, opener: Callable[[], duckdb.DuckDBPyConnection], path: str, files: FileResolver,
                 catalog: str, schema: str, idle_seconds: float = 0.05):  # fmt: skip
        self.path = path
        self._opener = opener
        self._idle_seconds = idle_seconds
        self._timer: timers.Call | None = None  # releases the file after `idle_seconds` without a statement
        self._con: duckdb.DuckDBPyConnection | None = None
        self._guard = threading.Lock()  # orders cancels and closes against statements starting and ending
        self._running: Cancellation | None = None  # the statement holding the file, guarded
        self._closed = False
        self.engine = LocalEngine(files, catalog, schema)
        with self._statement():  # the file is opened (and waited for) on connect, as before
            pass

    @contextlib.contextmanager
    def _statement(self, cancellation: Cancellation | None = None) -> Iterator[None]:
        """Hold the file for one statement. A cancel requested before it starts stops it here; one requested
        while it runs makes it raise OPERATION_CANCELED, whatever it did meanwhile."""
        cancellation = cancellation or Cancellation()
        with _lock_for(self.path):
            with self._guard:
                if self._closed:
                    cancellation.ended = True
                    cancellation.stopped.set()
                    raise session_closed_error()
                if cancellation.requested:
                    cancellation.ended = True
                    cancellation.stopped.set()
                    raise cancelled_error()
                outer, self._running = self._running, cancellation
            try:
                if self._timer is not None:
                    self._timer.cancel()
                if self._con is None:
                    con = self._opener()
                    try:
                        self.engine.attach(con)
                    except BaseException:
                        con.close()
                        raise
                    self._con = con
                yield
            except BaseException as e:
                if self._end(cancellation, outer):
                    raise cancelled_error() from e
                raise
            else:
                if self._end(cancellation, outer):
                    self.engine.ctx.aborted = self.engine.in_transaction  # it counts as failed, as when interrupted
                    raise cancelled_error()
            finally:
                if cancellation.requested and not self.engine.in_transaction:
                    self._release()  # a fresh DuckDB connection for the next statement: nothing half-done stays
                elif not self.engine.in_transaction:  # a transaction keeps the file until COMMIT / ROLLBACK
                    self._timer = timers.later(self._idle_seconds, self._release_if_idle)
                cancellation.stopped.set()

    def _end(self, cancellation: Cancellation, outer: Cancellation | None) -> bool:
        """Mark the statement ended; whether it was cancelled (decided here, under the guard)."""
        with self._guard:
            self._running = outer
            cancellation.ended = True
            return cancellation.requested

    def cancel(self, cancellation: Cancellation) -> None:
        """Cancel a statement of this connection from any thread, without waiting for it: one not started yet
        never runs; a running one is interrupted, again until it stops (DuckDB forgets an interrupt that lands
        just before it starts a query)."""
        with self._guard:
            if cancellation.ended or cancellation.requested:
                return
            cancellation.requested = True
            if self._running is not cancellation:
                return  # not started: it stops when it does
            self._interrupt_running(cancellation)
        threading.Thread(target=self._interrupt_until_stopped, args=(cancellation,), daemon=True).start()

    def _interrupt_running(self, cancellation: Cancellation) -> bool:
        """Interrupt DuckDB if `cancellation`'s statement still runs (call under the guard)."""
        if self._running is not cancellation:
            return False
        if self._con is not None:
            self._con.interrupt()
        return True

    def _interrupt_until_stopped(self, cancellation: Cancellation) -> None:
        while not cancellation.stopped.wait(_REINTERRUPT_SECONDS):
            with self._guard:
                if not self._interrupt_running(cancellation):
                    return

    def execute(self, operation: str, parameters: Mapping[str, Any] | Sequence[Any] | None,
                cancellation: Cancellation | None = None) -> Result:  # fmt: skip
        with self._statement(cancellation):
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
        """Cancel the statement running on this connection, if any (from another thread)."""
        with self._guard:
            running = self._running
        if running is not None:
            self.cancel(running)

    def _release(self) -> None:
        with _lock_for(self.path):
            self._close_file()

    def _close_file(self) -> None:
        """Close the DuckDB file (under its lock): the next statement opens it again."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def _release_if_idle(self) -> None:
        """The idle timer (on the package's timer thread, which must not wait): release the file unless a
        statement on it runs or a transaction is open; while a statement runs, look again later."""
        lock = _lock_for(self.path)
        if not lock.acquire(blocking=False):
            if not self._closed:
                self._timer = timers.later(self._idle_seconds, self._release_if_idle)
            return
        try:
            if not self.engine.in_transaction:
                self._close_file()
        finally:
            lock.release()

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
        """Close the session: its running statement is cancelled and, once it stopped, an open transaction is
        rolled back and the file released. No statement starts afterwards."""
        with self._guard:
            self._closed = True
            running = self._running
        if running is not None:
            self.cancel(running)
        with _lock_for(self.path):
            if self._timer is not None:
                self._timer.cancel()
            try:
                if self._con is not None and self.engine.in_transaction:
                    self._con.execute("ROLLBACK")
            finally:
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
