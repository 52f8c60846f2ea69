"""Unity-Catalog-like metadata of the local warehouse, kept in DuckDB beside the data (same transactions)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb
from sqlglot import exp

from ..naming import name_problem, quote
from .errors import LocalSQLError, schema_not_found

_META = '"__dbload"'
PROPERTY = "delta.enableChangeDataFeed"
_CHANGES = "__dbload_cdf"  # schema of the change sets: one table of changed rows per (table id, version)
CHANGE_VERSIONS = f"{_META}.change_feed"  # (table id, version): versions committed while the feed was on


def enabled(meta: TableMeta) -> bool:
    """Whether the table records its change data feed."""
    return meta.properties.get(PROPERTY, "").lower() == "true"


def change_set(meta: TableMeta, version: int) -> str:
    """The DuckDB table holding the rows `version` of `meta` changed."""
    return f"{quote_duck(_CHANGES)}.{quote_duck(f'{meta.id}_{version}')}"


def stored_change_sets(con: duckdb.DuckDBPyConnection, meta: TableMeta) -> set[int]:
    """The versions of `meta` with a change set stored (a version that changed no rows has none)."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND starts_with(table_name, ?)",
        [_CHANGES, meta.id + "_"],
    ).fetchall()
    return {int(name.rsplit("_", 1)[1]) for (name,) in rows}


def create_change_sets(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_duck(_CHANGES)}")


def check_name(name: str, kind: str) -> str:
    """A Unity Catalog name, lower-cased as it is stored; an invalid one raises."""
    problem = name_problem(name)
    if problem:
        raise LocalSQLError(
            "INVALID_SCHEMA_OR_RELATION_NAME", f"{name!r} is not a valid {kind} name: {problem}.", "42602"
        )
    return name.lower()


def quote_duck(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_dbx(*parts: str) -> str:
    return ".".join(quote(p) for p in parts)


def table_key(catalog: str, schema: str, name: str) -> str:
    """A table's key in the catalog's metadata."""
    return f"{catalog}\x1f{schema}\x1f{name}"


@dataclass
class Column:
    name: str
    type: str  # canonical Databricks SQL type
    comment: str | None = None
    nullable: bool = True
    tags: dict[str, str] = field(default_factory=dict)  # Unity Catalog column tags
    identity: dict[str, Any] | None = None  # GENERATED ... AS IDENTITY: start, step, always, its DuckDB sequence

    @property
    def identity_settings(self) -> dict[str, Any]:
        """`identity`, of an identity column."""
        if self.identity is None:
            raise AssertionError(f"{self.name} is not an identity column")
        return self.identity

    @property
    def identity_clause(self) -> str:
        """As SHOW CREATE TABLE writes it; '' for other columns."""
        if not self.identity:
            return ""
        how = "ALWAYS" if self.identity["always"] else "BY DEFAULT"
        return (
            f" GENERATED {how} AS IDENTITY (START WITH {self.identity['start']} INCREMENT BY {self.identity['step']})"
        )


@dataclass
class ForeignKey:
    """An informational FOREIGN KEY: `columns` reference `parent` (catalog, schema, table) `parent_columns`, its
    primary key."""

    name: str
    columns: list[str]
    parent: list[str]
    parent_columns: list[str]

    @property
    def parent_key(self) -> str:
        """The parent's `TableMeta.key`."""
        return table_key(*self.parent)

    @property
    def definition(self) -> str:
        """As DESCRIBE TABLE EXTENDED and SHOW CREATE TABLE show it."""
        names = ", ".join(quote_dbx(c) for c in self.columns)
        return f"FOREIGN KEY ({names}) REFERENCES {quote_dbx(*self.parent)} ({', '.join(quote_dbx(c) for c in self.parent_columns)})"


@dataclass
class TableMeta:
    catalog: str
    schema: str
    name: str
    columns: list[Column] = field(default_factory=list)
    comment: str | None = None
    partitioned_by: list[str] = field(default_factory=list)
    clustered_by: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    kind: str = "MANAGED"  # or VIEW
    format: str = "delta"  # or iceberg (a managed Iceberg table: the same rows and statements here)
    view_text: str | None = None  # a view's query, names qualified when it was created
    primary_key: list[str] = field(default_factory=list)  # informational PRIMARY KEY constraint
    primary_key_name: str | None = None
    foreign_keys: list[ForeignKey] = field(default_factory=list)  # informational FOREIGN KEY constraints
    tags: dict[str, str] = field(default_factory=dict)  # Unity Catalog tags (not Delta: no new version)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=lambda: _now().isoformat())
    version: int = -1

    @property
    def key(self) -> str:
        return table_key(self.catalog, self.schema, self.name)

    @property
    def duck(self) -> str:
        """The DuckDB table holding the rows."""
        return f"{quote_duck(self.catalog + '.' + self.schema)}.{quote_duck(self.name)}"

    @property
    def display(self) -> str:
        return quote_dbx(self.catalog, self.schema, self.name)

    @property
    def is_view(self) -> bool:
        return self.kind == "VIEW"

    @property
    def primary_key_constraint(self) -> str:
        """The PRIMARY KEY constraint's name, of a table that has one (it is named when it is added)."""
        if self.primary_key_name is None:
            raise AssertionError(f"{self.display} has no named primary key")
        return self.primary_key_name

    @property
    def constraint_names(self) -> list[str]:
        return ([self.primary_key_constraint] if self.primary_key else []) + [f.name for f in self.foreign_keys]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)


def identity_sequence(column: Column) -> str:
    """The DuckDB sequence an identity column's values come from (it keeps the name it was made with)."""
    schema, name = column.identity_settings["sequence"]
    return f"{quote_duck(schema)}.{quote_duck(name)}"


def identity_default(column: Column) -> str:
    return f"DEFAULT nextval({exp.Literal.string(identity_sequence(column)).sql('duckdb')})"


def _table_meta(text: str) -> TableMeta:
    data = json.loads(text)
    data["columns"] = [Column(**c) for c in data["columns"]]
    data["foreign_keys"] = [ForeignKey(**f) for f in data.get("foreign_keys", [])]
    return TableMeta(**data)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Catalog:
    """Catalogs, schemas, table metadata, Delta-like history and COPY INTO file bookkeeping."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        try:  # an existing warehouse file (its four tables were always created together): one query, no DDL
            if self.catalog_exists("main"):
                return
        except duckdb.CatalogException:
            pass
        con.execute(
            f"CREATE SCHEMA IF NOT EXISTS {_META};"
            f"CREATE TABLE IF NOT EXISTS {_META}.catalogs (name VARCHAR, comment VARCHAR);"
            f"CREATE TABLE IF NOT EXISTS {_META}.tables (key VARCHAR, meta VARCHAR);"
            f"CREATE TABLE IF NOT EXISTS {_META}.history (key VARCHAR, version BIGINT, ts TIMESTAMPTZ, "
            "operation VARCHAR, parameters VARCHAR, metrics VARCHAR);"
            f"CREATE TABLE IF NOT EXISTS {_META}.loaded_files (key VARCHAR, path VARCHAR)"
        )
        if not self.catalog_exists("main"):
            self.create_catalog("main")
            self.create_schema("main", "default")

    # catalogs and schemas
    def catalog_exists(self, name: str) -> bool:
        return bool(self.con.execute(f"SELECT 1 FROM {_META}.catalogs WHERE name = ?", [name]).fetchall())

    def create_catalog(self, name: str, comment: str | None = None) -> None:
        self.con.execute(f"INSERT INTO {_META}.catalogs VALUES (?, ?)", [name, comment])

    def catalogs(self) -> list[str]:
        return [r[0] for r in self.con.execute(f"SELECT name FROM {_META}.catalogs ORDER BY 1").fetchall()]

    def schemas(self, catalog: str) -> list[str]:
        rows = self.con.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() "
            "AND starts_with(schema_name, ?) ORDER BY 1",
            [catalog + "."],
        ).fetchall()
        return [r[0][len(catalog) + 1 :] for r in rows]

    def schema_exists(self, catalog: str, schema: str) -> bool:
        return schema in self.schemas(catalog)

    def require_schema(self, catalog: str, schema: str) -> None:
        if not self.schema_exists(catalog, schema):
            raise schema_not_found(quote_dbx(catalog, schema))

    def create_schema(self, catalog: str, schema: str) -> None:
        self.con.execute(f"CREATE SCHEMA {quote_duck(catalog + '.' + schema)}")

    def drop_schema(self, catalog: str, schema: str) -> None:
        for table in self.tables(catalog, schema):
            meta = self.get_table(catalog, schema, table)
            assert meta is not None  # just listed
            self.drop_table(meta)
        self.con.execute(f"DROP SCHEMA {quote_duck(catalog + '.' + schema)} CASCADE")

    # tables
    def tables(self, catalog: str, schema: str) -> list[str]:
        prefix = f"{catalog}\x1f{schema}\x1f"
        rows = self.con.execute(
            f"SELECT key FROM {_META}.tables WHERE starts_with(key, ?) ORDER BY 1", [prefix]
        ).fetchall()
        return [r[0][len(prefix) :] for r in rows]

    def get_table(self, catalog: str, schema: str, name: str) -> TableMeta | None:
        row = self.con.execute(
            f"SELECT meta FROM {_META}.tables WHERE key = ?", [table_key(catalog, schema, name)]
        ).fetchall()
        return _table_meta(row[0][0]) if row else None

    def all_tables(self, catalog: str | None = None) -> list[TableMeta]:
        """Every table and view (of one catalog, when given), ordered by catalog, schema and name."""
        rows = self.con.execute(
            f"SELECT meta FROM {_META}.tables WHERE ? IS NULL OR starts_with(key, ?) ORDER BY key",
            [catalog, f"{catalog}\x1f"],
        ).fetchall()
        return [_table_meta(r[0]) for r in rows]

    def save_table(self, meta: TableMeta) -> None:
        self.con.execute(f"DELETE FROM {_META}.tables WHERE key = ?", [meta.key])
        self.con.execute(f"INSERT INTO {_META}.tables VALUES (?, ?)", [meta.key, json.dumps(asdict(meta))])

    def identity_next(self, column: Column) -> int:
        """The value an identity column's sequence gives next."""
        identity = column.identity_settings
        last = self.con.execute(
            "SELECT last_value FROM duckdb_sequences() WHERE schema_name = ? AND sequence_name = ?",
            list(identity["sequence"]),
        ).fetchall()
        return identity["start"] if not last or last[0][0] is None else last[0][0] + identity["step"]

    def drop_table(self, meta: TableMeta, keep_history: bool = False) -> None:
        for table in ("tables", "loaded_files") if keep_history else ("tables", "history", "loaded_files"):
            self.con.execute(f"DELETE FROM {_META}.{table} WHERE key = ?", [meta.key])
        if not keep_history:
            self._drop_changes(meta)
        if not meta.is_view:
            self.con.execute(f"DROP TABLE IF EXISTS {meta.duck}")
            for column in meta.columns:
                if column.identity:
                    self.con.execute(f"DROP SEQUENCE IF EXISTS {identity_sequence(column)}")

    def rename_table(self, meta: TableMeta, catalog: str, schema: str, name: str) -> TableMeta:
        """`meta` under a new name, with its history, loaded files and rows (views: the definition)."""
        renamed = dataclasses.replace(meta, catalog=catalog, schema=schema, name=name)
        for table in ("tables", "history", "loaded_files"):
            self.con.execute(f"UPDATE {_META}.{table} SET key = ? WHERE key = ?", [renamed.key, meta.key])
        if not meta.is_view:
            if (meta.catalog, meta.schema) == (catalog, schema):
                self.con.execute(f"ALTER TABLE {meta.duck} RENAME TO {quote_duck(name)}")
            else:
                self.con.execute(f"CREATE TABLE {renamed.duck} AS SELECT * FROM {meta.duck}")
                self.con.execute(f"DROP TABLE {meta.duck}")
                for column in meta.columns:  # the copy has no defaults: identity columns take theirs again
                    if column.identity:
                        default = identity_default(column)
                        self.con.execute(
                            f"ALTER TABLE {renamed.duck} ALTER COLUMN {quote_duck(column.name)} SET {default}"
                        )
        self.save_table(renamed)
        return renamed

    # history and COPY INTO bookkeeping
    def commit(self, meta: TableMeta, operation: str, parameters: dict, metrics: dict) -> int:
        """Record a new table version and save the metadata; returns the version."""
        meta.version += 1
        self.con.execute(
            f"INSERT INTO {_META}.history VALUES (?, ?, ?, ?, ?, ?)",
            [
                meta.key,
                meta.version,
                _now(),
                operation,
                json.dumps({k: str(v) for k, v in parameters.items() if v is not None}),
                json.dumps({k: str(v) for k, v in metrics.items()}),
            ],
        )
        if enabled(meta):
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {CHANGE_VERSIONS} (id VARCHAR, version BIGINT)")
            self.con.execute(f"INSERT INTO {CHANGE_VERSIONS} VALUES (?, ?)", [meta.id, meta.version])
        self.save_table(meta)
        return meta.version

    def history(self, meta: TableMeta, limit: int | None = None) -> list[tuple]:
        """The table's versions, newest first (the newest `limit`)."""
        return self.con.execute(
            f"SELECT version, ts, operation, parameters, metrics FROM {_META}.history WHERE key = ? "
            "ORDER BY version DESC LIMIT ?",
            [meta.key, limit],
        ).fetchall()

    def _drop_changes(self, meta: TableMeta) -> None:
        for version in stored_change_sets(self.con, meta):
            self.con.execute(f"DROP TABLE {change_set(meta, version)}")

    def last_modified(self, meta: TableMeta) -> datetime | None:
        row = self.con.execute(f"SELECT max(ts) FROM {_META}.history WHERE key = ?", [meta.key]).fetchall()
        return row[0][0]

    def loaded_files(self, meta: TableMeta) -> set[str]:
        rows = self.con.execute(f"SELECT path FROM {_META}.loaded_files WHERE key = ?", [meta.key])
        return {r[0] for r in rows.fetchall()}

    def mark_loaded(self, meta: TableMeta, paths: list[str]) -> None:
        self.con.executemany(f"INSERT INTO {_META}.loaded_files VALUES (?, ?)", [[meta.key, p] for p in paths])
