"""The change data feed of tables with `delta.enableChangeDataFeed`: each write records its changed rows (insert,
update_preimage, update_postimage, delete) under the version it commits, and `table_changes()` reads them back
with `_change_type`, `_commit_version` and `_commit_timestamp`, as Databricks answers."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
from sqlglot import exp

from .catalog import (
    CHANGE_VERSIONS,
    PROPERTY,
    TableMeta,
    change_set,
    create_change_sets,
    enabled,
    quote_duck,
    stored_change_sets,
)
from .errors import LocalSQLError


class ChangeFeed:
    """Records and reads one connection's change data; writes call it inside their transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def mark(self, meta: TableMeta) -> int | None:
        """Before an insert: the largest row id, so that `inserted` finds the new rows (None: feed off)."""
        if not enabled(meta):
            return None
        return self.con.execute(f"SELECT coalesce(max(rowid), -1) FROM {meta.duck}").fetchall()[0][0]

    def inserted(self, meta: TableMeta, mark: int | None) -> None:
        """After an insert: the rows added since `mark` (a transaction's new rows have the largest row ids)."""
        if mark is not None:
            self.record(meta, "insert", f"rowid > {mark}")

    def record(self, meta: TableMeta, kind: str, where: str = "true", alias: str | None = None) -> None:
        """Rows of `meta` (as `alias`) where `where` holds, as changes of kind `kind` in the coming version."""
        if not enabled(meta):
            return
        target = f"{meta.duck} AS {alias}" if alias else meta.duck
        columns = ", ".join(f"{alias + '.' if alias else ''}{quote_duck(c.name)}" for c in meta.columns)
        select = f"SELECT {columns}, '{kind}' AS _change_type FROM {target} WHERE {where}"
        version = meta.version + 1
        name = change_set(meta, version)
        create_change_sets(self.con)
        exists = version in stored_change_sets(self.con, meta)
        self.con.execute(f"INSERT INTO {name} BY NAME {select}" if exists else f"CREATE TABLE {name} AS {select}")

    def source(self, meta: TableMeta, start: int, end: int, history: list[tuple]) -> str:
        """DuckDB SQL of `table_changes(meta, start, end)`; `history` is the table's (version, ts, ...) rows."""
        latest = meta.version
        if start > latest:
            raise LocalSQLError(
                "DELTA_INVALID_CDC_RANGE",
                f"Provided Start version({start}) for reading change data is invalid. Start version cannot be "
                f"greater than the latest version of the table({latest}).",
                "22003",
            )
        end = min(end, latest)
        if end < start or start < 0:
            raise LocalSQLError(
                "DELTA_INVALID_CDC_RANGE",
                f"CDC range from start {start} to end {end} was invalid. End cannot be before start.",
                "22003",
            )
        covered = set(self.covered(meta, start, end))
        missing = next((v for v in range(start, end + 1) if v not in covered), None)
        if missing is not None:
            raise LocalSQLError(
                "DELTA_MISSING_CHANGE_DATA",
                f"Error getting change data for range [{start} , {end}] as change data was not recorded for version "
                f"[{missing}]. If you've enabled change data feed on this table, use `DESCRIBE HISTORY` to see when "
                "it was first enabled. Otherwise, to start recording change data, use `ALTER TABLE table_name SET "
                f"TBLPROPERTIES ({PROPERTY}=true)`.",
                "KD002",
            )
        stamps: dict[int, datetime] = {row[0]: row[1] for row in history}
        stored = stored_change_sets(self.con, meta)
        columns = ", ".join(quote_duck(c.name) for c in meta.columns)
        parts = [
            f"SELECT *, {v}::BIGINT AS _commit_version, CAST('{stamps[v].isoformat()}' AS TIMESTAMPTZ) AS "
            f"_commit_timestamp FROM {change_set(meta, v)}"
            for v in range(start, end + 1)
            if v in stored
        ]
        empty = (  # the current columns, typed, whatever the change sets hold
            f"SELECT {columns}, NULL::VARCHAR AS _change_type, NULL::BIGINT AS _commit_version, "
            f"NULL::TIMESTAMPTZ AS _commit_timestamp FROM {meta.duck} WHERE false"
        )
        union = " UNION ALL BY NAME ".join([empty, *parts])
        return f"SELECT {columns}, _change_type, _commit_version, _commit_timestamp FROM ({union})"

    def covered(self, meta: TableMeta, start: int, end: int) -> list[int]:
        """The versions in [start, end] committed while the feed was on."""
        try:
            rows = self.con.execute(
                f"SELECT version FROM {CHANGE_VERSIONS} WHERE id = ? AND version BETWEEN ? AND ?", [meta.id, start, end]
            ).fetchall()
        except duckdb.CatalogException:  # no table has had the feed on
            return []
        return [v for (v,) in rows]


def bound(value: exp.Expr, history: list[tuple], is_start: bool) -> int:
    """A table_changes version argument: an integer version, or a timestamp (the first version committed at or
    after it for the start, the last one at or before it for the end)."""
    if isinstance(value, exp.Literal) and not value.is_string:
        return int(value.this)
    if isinstance(value, exp.Literal):
        moment = datetime.fromisoformat(value.this)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        if is_start:
            later = [v for v, ts, *_ in history if ts >= moment]
            return min(later) if later else max(v for v, *_ in history) + 1
        earlier = [v for v, ts, *_ in history if ts <= moment]
        return max(earlier) if earlier else -1
    raise LocalSQLError(
        "INVALID_PARAMETER_VALUE", "table_changes takes versions (integers) or timestamps (strings).", "22023"
    )
