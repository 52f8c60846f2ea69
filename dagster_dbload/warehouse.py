"""The base of the warehouses DatabricksIOManager loads into."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pyarrow as pa
from dagster import ConfigurableResource
from dagster.components.lib.sql_component.sql_client import SQLClient

from .naming import TableRef
from .sql import split_statements


class SQLWarehouse(ConfigurableResource, SQLClient):
    """A Databricks SQL endpoint: `connect()` yields a DB-API connection that runs Databricks SQL. It is a
    Dagster `SQLClient`, so `TemplatedSqlComponent` runs SQL scripts on it."""

    def connect(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def session(self) -> AbstractContextManager[Any]:
        """A connection for this package's own statements, which leave no session state behind (no SET, no open
        transaction): a warehouse may keep it for the next one. By default, `connect()`'s."""
        return self.connect()

    def connect_and_execute(self, sql: str) -> None:
        """Run a `;`-separated script, one statement at a time, on one connection (session)."""
        with self.connect() as connection:
            cursor = connection.cursor()
            for statement in split_statements(sql):
                cursor.execute(statement)

    def stream(self, statement: str, batch_rows: int = 128 * 1024) -> pa.RecordBatchReader:
        """A query's rows as Arrow batches, fetched as they are read (Cloud Fetch links one after another); the
        connection stays open until the stream is read to its end or closed."""
        stack = contextlib.ExitStack()
        try:
            cursor = stack.enter_context(self.streaming_connection()).cursor()
            cursor.execute(statement)
            first = cursor.fetchmany_arrow(batch_rows)
        except BaseException:
            stack.close()
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            with stack:
                chunk = first
                while chunk.num_rows:
                    yield from (batch for batch in chunk.to_batches() if batch.num_rows)
                    chunk = cursor.fetchmany_arrow(batch_rows)

        return pa.RecordBatchReader.from_batches(first.schema, batches())

    def streaming_connection(self) -> AbstractContextManager[Any]:
        """The connection a streamed read holds (by default, `connect()`'s)."""
        return self.connect()

    def staging_filesystem(self, url: str, connection: Any = None) -> tuple[Any, str] | None:
        """(filesystem, path) for staging at `url` when plain fsspec cannot reach it, e.g. a Volume path; it may
        use `connection` (the load's own) for its requests."""
        return None

    def table_url(self, table: TableRef) -> str | None:
        """Where a person looks at `table` (Catalog Explorer on Databricks), or None."""
        return None

    def default_staging_url(self) -> str | None:
        """Where to stage files when the IO manager sets no `staging_url` (None: it must be set)."""
        return None
