"""What every statement family of a session works on: its DuckDB connection, catalog and change feed, the files it reads, its
current names, settings and transaction state, and the name lookup and transaction scope they share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb
from sqlglot import exp

from . import decimals
from .catalog import Catalog, TableMeta, check_name, quote_dbx
from .changes import ChangeFeed
from .common import no_catalog
from .errors import LocalSQLError, table_not_found
from .files import FileResolver

USER = "local"  # current_user() of every session, the owner of what it makes and of stage://tmp/local/
DEFAULTS = {"ansi_mode": "true", "timezone": "Etc/UTC", "use_cached_result": "true", "statement_timeout": "172800"}


class Context:
    """One session's state; the families (reads, DDL, writes, MERGE, metadata, session statements) get it
    explicitly, and each other only through their public methods."""

    con: duckdb.DuckDBPyConnection
    meta: Catalog
    changes: ChangeFeed

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
        self.changes = ChangeFeed(con)
        decimals.install(con)
        self.apply_settings()

    @property
    def time_zone(self) -> str:
        return self.settings.get("timezone", DEFAULTS["timezone"])

    def apply_settings(self) -> None:
        zone = self.time_zone
        self.con.execute(f"SET TimeZone = {exp.Literal.string(zone).sql('duckdb')}")

    @property
    def ansi_mode(self) -> bool:
        return self.settings.get("ansi_mode", "true").lower() == "true"

    @property
    def decimal_precision_loss(self) -> bool:
        return self.settings.get("spark.sql.decimaloperations.allowprecisionloss", "true").lower() == "true"

    def open_namespace(self, catalog: str | None, schema: str | None) -> None:
        if catalog:
            catalog = check_name(catalog, "catalog")
            if not self.meta.catalog_exists(catalog):
                raise no_catalog(catalog)
            self.current_catalog, self.current_schema = catalog, "default"
        if schema:
            self.current_schema = check_name(schema, "schema")

    def resolve(self, table: exp.Table) -> tuple[str, str, str]:
        """(catalog, schema, name) of a table reference, in the session's current catalog and schema."""
        parts = [p.name for p in table.parts]
        if len(parts) > 3:
            raise LocalSQLError(
                "REQUIRES_SINGLE_PART_NAMESPACE", f"{table.sql('databricks')} has too many name parts.", "42K05"
            )
        parts = [self.current_catalog, self.current_schema][: 3 - len(parts)] + parts
        kinds = ("catalog", "schema", "table")
        return tuple(check_name(p, k) for p, k in zip(parts, kinds, strict=True))  # type: ignore[return-value]

    def lookup(self, table: exp.Table) -> TableMeta:
        """The table or view a reference names (a temporary view first); `[TABLE_OR_VIEW_NOT_FOUND]` if none."""
        if not table.db and table.name.lower() in self.temp_views:
            return self.temp_views[table.name.lower()]
        catalog, schema, name = self.resolve(table)
        meta = self.meta.get_table(catalog, schema, name)
        if meta is None:
            raise table_not_found(quote_dbx(catalog, schema, name))
        return meta

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
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
