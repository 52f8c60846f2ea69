"""LocalSQLWarehouse: the embedded Databricks SQL warehouse (a DuckDB file) as a Dagster resource."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from ..naming import TableRef
from ..retrying import retrying
from ..warehouse import SQLWarehouse
from .dbapi import LocalConnection
from .errors import LocalSQLError
from .files import FileResolver


class LocalSQLWarehouse(SQLWarehouse):
    """A Databricks SQL warehouse on your laptop: Databricks SQL parsed with sqlglot, run on DuckDB.

    `connect()` yields a connection with the databricks-sql-connector cursor surface (`execute(sql,
    parameters)`, `fetchall`, `fetchone`, `fetchmany`, `fetchall_arrow`, `description`, `rowcount`).
    Errors are `databricks.sql.exc.ServerOperationError` with Databricks error classes.

    What runs locally (DDL, loads, MERGE, views, information_schema, SHOW/DESCRIBE, SET, transactions) is
    listed in the README's "The local SQL warehouse"; anything else fails with an error that names it.
    Several processes may share the file: a connection holds it only while its statements run, and a
    statement waits up to `lock_timeout_seconds` for another process to release it.
    """

    path: str = Field(default=".dbload/warehouse.duckdb", description="The DuckDB database file.")
    catalog: str = Field(default="main", description="Catalog for unqualified names.")
    schema_: str = Field(default="default", alias="schema", description="Schema for unqualified names.")
    storage_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="fsspec options per protocol for reading staged files, e.g. {'s3': {'endpoint_url': ..}}.",
    )
    lock_timeout_seconds: float = Field(default=120.0, description="How long connect waits for the file.")
    memory_limit: str | None = Field(
        default=None,
        description="DuckDB's memory_limit, e.g. '512MB': bounds the memory a load holds (DuckDB keeps the "
        "blocks it writes cached up to this limit, so without one a load's memory grows with its rows). "
        "Default: DuckDB's, 80% of RAM.",
    )

    @property
    def root(self) -> str:
        """The folder holding the database file, its volumes and default staging area."""
        return os.path.dirname(os.path.abspath(self.path))

    @property
    def volumes_root(self) -> str:
        return os.path.join(self.root, "volumes")

    def staging_filesystem(self, url: str, connection: Any = None) -> tuple[Any, str] | None:
        if not url.startswith(("/Volumes/", "dbfs:/Volumes/")):
            return None
        import fsspec

        return fsspec.filesystem("file"), FileResolver(self.volumes_root).resolve(url)[1]

    def table_url(self, table: TableRef) -> str:
        """The database file that holds the table."""
        return Path(os.path.abspath(self.path)).as_uri()

    def default_staging_url(self) -> str:
        return os.path.join(self.root, "staging")

    def stream(self, statement: str, batch_rows: int = 128 * 1024) -> pa.RecordBatchReader:
        """A query's rows as Arrow batches: DuckDB writes them to a temporary parquet file (errors surface here,
        and the warehouse file is released at once), read back one row group at a time and deleted at the end."""
        folder = tempfile.mkdtemp(prefix="dbload-read-")
        path = os.path.join(folder, "rows.parquet")
        try:
            with self.connect() as connection:
                schema = connection.export(statement, path)
            file = pq.ParquetFile(path, pre_buffer=False)  # one row group in memory at a time
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for batch in file.iter_batches(batch_size=batch_rows):
                    yield pa.RecordBatch.from_arrays(
                        [c.cast(f.type) for c, f in zip(batch.columns, schema, strict=True)], schema=schema
                    )
            finally:
                file.close()
                shutil.rmtree(folder, ignore_errors=True)

        return pa.RecordBatchReader.from_batches(schema, batches())

    @contextlib.contextmanager
    def connect(self) -> Iterator[LocalConnection]:
        """A connection to the warehouse file, waiting for other processes that hold it."""
        if self.path.strip() == ":memory:":
            raise ValueError(
                "LocalSQLWarehouse(path=':memory:') would make a file named ':memory:': the local warehouse is a "
                "DuckDB file that each connection opens again. Give it a file path (in tests, under tmp_path)."
            )
        path = os.path.abspath(self.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        files = FileResolver(self.volumes_root, self.storage_options)
        connection = LocalConnection(
            lambda: _open(path, self.lock_timeout_seconds, self.memory_limit), path, files, self.catalog, self.schema_
        )
        try:
            yield connection
        finally:
            connection.close()


def _open(path: str, timeout: float, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    def locked(error: BaseException) -> bool:
        return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()

    try:
        for attempt in retrying(locked, within_seconds=timeout, first_delay=0.05, max_delay=1.0):
            with attempt:
                return duckdb.connect(path, config={"memory_limit": memory_limit} if memory_limit else {})
    except duckdb.IOException as e:
        if not locked(e):
            raise
        raise LocalSQLError(
            "WAREHOUSE_BUSY",
            f"Another process kept the local warehouse file {path} open for more than {timeout:.0f}s. "
            "Close it (e.g. a DuckDB shell or a running `dagster dev` job) or raise lock_timeout_seconds.",
            "55006",
        ) from None
    raise AssertionError("unreachable")
