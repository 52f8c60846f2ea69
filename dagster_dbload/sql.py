"""Databricks SQL the IO manager sends, built by pure functions: identifiers quoted, values escaped."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from .naming import TableRef, quote


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str  # Databricks SQL type
    comment: str | None = None
    nullable: bool = True  # False: NOT NULL when the table is created (dagster/column_schema, primary key)


def literal(value: str) -> str:
    """A Databricks string literal (backslash-escaped, as Databricks reads it)."""
    return exp.Literal.string(value).sql("databricks")


def _columns(names: Sequence[str]) -> str:
    return ", ".join(quote(n) for n in names)


def _column_defs(columns: Sequence[ColumnSpec], not_null: bool = True) -> str:
    """Column definitions; `not_null=False` leaves NOT NULL out (Delta adds new columns nullable)."""
    return ", ".join(
        f"{quote(c.name)} {c.type}"
        + (" NOT NULL" if not_null and not c.nullable else "")
        + (f" COMMENT {literal(c.comment)}" if c.comment else "")
        for c in columns
    )


def create_schema(catalog: str, schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {quote(catalog)}.{quote(schema)}"


def create_volume(volume: TableRef) -> str:
    return f"CREATE VOLUME IF NOT EXISTS {volume.sql}"


# Row-level concurrency: concurrent writers of different rows (partitions, merge keys) do not conflict.
ROW_LEVEL_CONCURRENCY = {"delta.enableDeletionVectors": "true", "delta.enableRowTracking": "true"}


def create_table(
    ref: TableRef,
    columns: Sequence[ColumnSpec],
    partition_by: Sequence[str] = (),
    cluster_by: Sequence[str] = (),
    comment: str | None = None,
    properties: Mapping[str, str] | None = None,
    primary_key: Sequence[str] = (),
) -> str:
    """The table, with NOT NULL columns and an informational (not enforced) PRIMARY KEY constraint."""
    key = f", CONSTRAINT {quote(ref.table + '_pk')} PRIMARY KEY ({_columns(primary_key)})" if primary_key else ""
    sql = f"CREATE TABLE IF NOT EXISTS {ref.sql} ({_column_defs(columns)}{key}) USING DELTA"
    if partition_by:
        sql += f" PARTITIONED BY ({_columns(partition_by)})"
    if cluster_by:
        sql += f" CLUSTER BY ({_columns(cluster_by)})"
    if comment:
        sql += f" COMMENT {literal(comment)}"
    if properties:
        sql += f" TBLPROPERTIES ({_properties(properties)})"
    return sql


def _properties(properties: Mapping[str, str]) -> str:
    return ", ".join(f"{literal(k)} = {literal(v)}" for k, v in properties.items())


# Column names with spaces or any of ,;{}()= need Delta column mapping.
COLUMN_MAPPING = {"delta.columnMapping.mode": "name", "delta.minReaderVersion": "2", "delta.minWriterVersion": "5"}


def set_properties(ref: TableRef, properties: Mapping[str, str]) -> str:
    return f"ALTER TABLE {ref.sql} SET TBLPROPERTIES ({_properties(properties)})"


def drop_table(ref: TableRef) -> str:
    return f"DROP TABLE IF EXISTS {ref.sql}"


def add_columns(ref: TableRef, columns: Sequence[ColumnSpec]) -> str:
    return f"ALTER TABLE {ref.sql} ADD COLUMNS ({_column_defs(columns, not_null=False)})"


def comment_column(ref: TableRef, column: str, comment: str) -> str:
    return f"ALTER TABLE {ref.sql} ALTER COLUMN {quote(column)} COMMENT {literal(comment)}"


def enable_type_widening(ref: TableRef) -> str:
    return set_properties(ref, {"delta.enableTypeWidening": "true"})


def widen_column(ref: TableRef, column: str, type_sql: str) -> str:
    return f"ALTER TABLE {ref.sql} ALTER COLUMN {quote(column)} TYPE {type_sql}"


def describe_table(ref: TableRef) -> str:
    """The table's columns, then its details (Table Properties among them): what a load checks, in one statement."""
    return f"DESCRIBE TABLE EXTENDED {ref.sql}"


def describe_history(ref: TableRef, limit: int) -> str:
    return f"DESCRIBE HISTORY {ref.sql} LIMIT {int(limit)}"


def read_files(url: str) -> str:
    """The staged parquet files as a table source."""
    return f"read_files({literal(url)}, format => 'parquet')"


def copy_into(ref: TableRef, url: str, merge_schema: bool, files: Sequence[str] | None = None) -> str:
    """Append the files under `url` (only `files`, names relative to it, when given); a file already loaded
    into the table is skipped (idempotent retries)."""
    sql = f"COPY INTO {ref.sql} FROM {literal(url)} FILEFORMAT = PARQUET"
    if files is not None:
        sql += f" FILES = ({', '.join(literal(f) for f in files)})"
    if merge_schema:
        sql += " FORMAT_OPTIONS ('mergeSchema' = 'true') COPY_OPTIONS ('mergeSchema' = 'true')"
    return sql


def insert_overwrite(ref: TableRef, columns: Sequence[str], url: str) -> str:
    """Replace all rows atomically with the staged files."""
    cols = _columns(columns)
    return f"INSERT OVERWRITE {ref.sql} ({cols}) SELECT {cols} FROM {read_files(url)}"


def replace_where(ref: TableRef, columns: Sequence[str], url: str, predicate: str) -> str:
    """Replace the rows matching `predicate` atomically; staged rows outside it are an error."""
    cols = _columns(columns)
    return f"INSERT INTO {ref.sql} REPLACE WHERE {predicate} SELECT {cols} FROM {read_files(url)}"


def merge(
    ref: TableRef,
    columns: Sequence[str],
    keys: Sequence[str],
    url: str,
    target_predicate: str | None = None,
    dedupe_by: str | None = None,
    version_by: str | None = None,
    delete_missing: bool = False,
    insert_only: bool = False,
    hard_delete: str | None = None,
) -> str:
    """Upsert the staged rows by `keys` (null-safe); `target_predicate` limits the target to a partition, and
    with `version_by` a table row is only updated by a row whose value there is at least the table's; a row
    equal to its match is not updated. With
    `delete_missing`, table rows (of the partition) that no staged row matches are deleted; `insert_only`
    inserts new keys and never updates; a staged row whose `hard_delete` column is true deletes its match
    and is never inserted (the column is staged, not stored)."""
    cols = _columns(columns)
    source = f"SELECT {_columns([*columns, hard_delete] if hard_delete else columns)} FROM {read_files(url)}"
    if dedupe_by:
        source += f" QUALIFY row_number() OVER (PARTITION BY {_columns(keys)} ORDER BY {quote(dedupe_by)} DESC NULLS LAST) = 1"
    on = " AND ".join(f"t.{quote(k)} <=> s.{quote(k)}" for k in keys)
    if target_predicate:
        on += f" AND {target_predicate}"
    updates = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in columns)
    values = ", ".join(f"s.{quote(c)}" for c in columns)
    newer = (
        f" AND (t.{quote(version_by)} IS NULL OR s.{quote(version_by)} >= t.{quote(version_by)})" if version_by else ""
    )
    flag = f"coalesce(s.{quote(hard_delete)}, false)" if hard_delete else ""
    whens = [f"WHEN MATCHED AND {flag} THEN DELETE"] if hard_delete else []
    key_names = {k.lower() for k in keys}
    compared = [c for c in columns if c.lower() not in key_names]
    if not insert_only and compared:  # a row equal to its match is left alone: no new file, no change feed rows
        changed = " AND ".join(f"t.{quote(c)} <=> s.{quote(c)}" for c in compared)
        whens.append(f"WHEN MATCHED{newer} AND NOT ({changed}) THEN UPDATE SET {updates}")
    whens.append(f"WHEN NOT MATCHED{f' AND NOT {flag}' if flag else ''} THEN INSERT ({cols}) VALUES ({values})")
    return (
        f"MERGE INTO {ref.sql} AS t USING ({source}) AS s ON {on} "
        + " ".join(whens)
        + (
            f" WHEN NOT MATCHED BY SOURCE{f' AND {target_predicate}' if target_predicate else ''} THEN DELETE"
            if delete_missing
            else ""
        )  # fmt: skip
    )


@dataclass(frozen=True)
class Scd2Columns:
    """The columns an scd2 table keeps beside the output's: validity and the row hash that detects changes."""

    valid_from: str = "_valid_from"
    valid_to: str = "_valid_to"
    row_hash: str = "_row_hash"

    def specs(self) -> list[ColumnSpec]:
        return [
            ColumnSpec(self.valid_from, "TIMESTAMP", "Start of this version's validity.", nullable=False),
            ColumnSpec(self.valid_to, "TIMESTAMP", "End of this version's validity; NULL for the current one."),
            ColumnSpec(self.row_hash, "STRING", "Hash of the non-key columns, to detect changes.", nullable=False),
        ]


def row_hash(columns: Sequence[str]) -> str:
    """md5 over `name:value` of each non-null column: a new column that is NULL leaves the hash unchanged."""
    parts = ", ".join(f"{literal(c + ':')} || CAST({quote(c)} AS STRING)" for c in columns)
    return f"md5(concat_ws(chr(31), {parts}))" if columns else "md5('')"


def scd2_merge(
    ref: TableRef,
    columns: Sequence[str],
    keys: Sequence[str],
    url: str,
    valid_at: datetime.datetime,
    scd2: Scd2Columns,
    partition: Callable[[str], str] | None = None,
    dedupe_by: str | None = None,
    close_missing: bool = True,
) -> str:
    """Type 2 history in one MERGE, valid from `valid_at`. A staged row whose hash differs from
    its key's current version closes that version and inserts a new one (the staged rows are unioned with a copy
    of the changed ones, which matches nothing); a new key is inserted; with `close_missing`, current versions
    (of the partition, whose predicate is `partition(qualifier)`) that no staged row matches are closed.
    Loading at the same time again is idempotent, and corrects that version in place where the rows changed; a
    table (partition) holding history after `valid_at` raises."""
    at = timestamp(valid_at)
    versions = partition("c.") if partition else None  # the table's rows of the partition, as `c`
    frm, to, hashed = quote(scd2.valid_from), quote(scd2.valid_to), quote(scd2.row_hash)
    data = [c for c in columns if c.lower() not in {k.lower() for k in keys}]
    staged = f"SELECT {_columns(columns)}, {row_hash(data)} AS {hashed} FROM {read_files(url)}"
    if dedupe_by:
        staged += f" QUALIFY row_number() OVER (PARTITION BY {_columns(keys)} ORDER BY {quote(dedupe_by)} DESC NULLS LAST) = 1"
    same = " AND ".join(f"c.{quote(k)} <=> s.{quote(k)}" for k in keys)
    scope = f" AND {partition('t.')}" if partition else ""
    changed = (
        f"SELECT s.*, true AS `__dbload_new` FROM s JOIN {ref.sql} AS c ON {same} AND c.{to} IS NULL "
        f"AND c.{hashed} <> s.{hashed} AND c.{frm} < {at}" + (f" AND {versions}" if versions else "")
    )
    late = literal(
        f"scd2: {ref} already holds versions after {_utc(valid_at)}, this load's validity time, and history is "
        "written in time order. Materialize time partitions oldest first (one at a time), or drop the table and "
        "materialize them again."
    )
    latest = f"SELECT max(greatest(c.{frm}, coalesce(c.{to}, c.{frm}))) AS at FROM {ref.sql} AS c" + (
        f" WHERE {versions}" if versions else ""
    )
    guard = (  # no rows; raises when the table (partition) already has history after `at`
        f"SELECT s.*, true AS `__dbload_new` FROM latest LEFT JOIN s ON false "
        f"WHERE CASE WHEN latest.at > {at} THEN raise_error({late}) ELSE false END"
    )
    source = (
        f"WITH s AS ({staged}), latest AS ({latest}) "
        f"SELECT s.*, false AS `__dbload_new` FROM s UNION ALL {changed} UNION ALL {guard}"
    )
    on = " AND ".join(f"t.{quote(k)} <=> s.{quote(k)}" for k in keys) + f" AND t.{to} IS NULL AND NOT s.`__dbload_new`"
    updates = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in [*columns, scd2.row_hash])
    inserted = [*columns, scd2.row_hash, scd2.valid_from, scd2.valid_to]
    values = ", ".join([*(f"s.{quote(c)}" for c in [*columns, scd2.row_hash]), at, "NULL"])
    statement = (
        f"MERGE INTO {ref.sql} AS t USING ({source}) AS s ON {on}{scope} "
        f"WHEN MATCHED AND t.{hashed} <> s.{hashed} AND t.{frm} = {at} THEN UPDATE SET {updates} "
        f"WHEN MATCHED AND t.{hashed} <> s.{hashed} THEN UPDATE SET {to} = {at} "
        f"WHEN NOT MATCHED THEN INSERT ({_columns(inserted)}) VALUES ({values})"
    )
    if close_missing:
        statement += (
            f" WHEN NOT MATCHED BY SOURCE AND t.{to} IS NULL{scope} AND t.{frm} = {at} THEN DELETE"
            f" WHEN NOT MATCHED BY SOURCE AND t.{to} IS NULL{scope} THEN UPDATE SET {to} = {at}"
        )
    return statement


def table_tags(ref: TableRef) -> str:
    """The table's Unity Catalog tags (tag_name, tag_value)."""
    return (
        f"SELECT tag_name, tag_value FROM {quote(ref.catalog)}.information_schema.table_tags "
        f"WHERE schema_name = {literal(ref.schema)} AND table_name = {literal(ref.table)}"
    )


def set_tags(ref: TableRef, tags: Mapping[str, str]) -> str:
    return f"ALTER TABLE {ref.sql} SET TAGS ({', '.join(f'{literal(k)} = {literal(v)}' for k, v in tags.items())})"


def count_rows(ref: TableRef, where: str | None = None) -> str:
    """The table's (or, with `where`, a partition's) rows; Delta answers a bare count from file statistics."""
    return f"SELECT count(*) AS n FROM {ref.sql}" + (f" WHERE {where}" if where else "")


def count_versions(ref: TableRef, valid_to: str, where: str | None = None) -> str:
    """An scd2 table's (or partition's) versions and current versions."""
    return f"SELECT count(*) AS n, count_if({quote(valid_to)} IS NULL) AS current FROM {ref.sql}" + (
        f" WHERE {where}" if where else ""
    )


def timestamp(moment: datetime.datetime) -> str:
    """A TIMESTAMP literal for a tz-aware moment, in UTC."""
    return f"TIMESTAMP{literal(_utc(moment))}"


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat(sep=" ")


def count_outside(url: str, predicate: str) -> str:
    """Staged rows for which `predicate` is not true."""
    return f"SELECT count(*) AS outside FROM {read_files(url)} WHERE NOT coalesce({predicate}, false)"


def select(ref: TableRef, columns: Sequence[str] | None = None, where: str | None = None) -> str:
    sql = f"SELECT {_columns(columns) if columns else '*'} FROM {ref.sql}"
    return sql + (f" WHERE {where}" if where else "")


CHANGE_DATA_FEED = {"delta.enableChangeDataFeed": "true"}
CHANGE_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


def table_changes(
    ref: TableRef, columns: Sequence[str] | None, start: int, end: int, where: str | None, preimages: bool
) -> str:
    """The change data feed of versions `start` to `end` (inclusive): inserts, post-images of updates (and their
    pre-images when `preimages`) and deletes, with the change columns."""
    wanted = f"{_columns([*columns, *CHANGE_COLUMNS])}" if columns else "*"
    conditions = [] if preimages else ["_change_type != 'update_preimage'"]
    conditions += [f"({where})"] if where else []
    sql = f"SELECT {wanted} FROM table_changes({literal(ref.sql)}, {int(start)}, {int(end)})"
    return sql + (f" WHERE {' AND '.join(conditions)}" if conditions else "")


def as_inserts(ref: TableRef, columns: Sequence[str] | None, version: int, where: str | None) -> str:
    """The rows of `version` in the change feed's shape, every row an insert: a first incremental read."""
    wanted = _columns(columns) if columns else "*"
    sql = (
        f"SELECT {wanted}, 'insert' AS _change_type, CAST({int(version)} AS BIGINT) AS _commit_version, "
        f"CAST(NULL AS TIMESTAMP) AS _commit_timestamp FROM {ref.sql} VERSION AS OF {int(version)}"
    )
    return sql + (f" WHERE {where}" if where else "")


_BOOKKEEPING = ("DESCRIBE", "SHOW", "SELECT", "CREATE VOLUME")


def is_bookkeeping(statement: str) -> bool:
    """Whether a statement only looks (DESCRIBE, SHOW, SELECT) or prepares staging (CREATE VOLUME)."""
    return statement.upper().startswith(_BOOKKEEPING)


def markdown(statements: Sequence[str]) -> str:
    """The statements pretty-printed, each in a fenced `sql` block (as the Dagster UI shows markdown)."""
    blocks = []
    for statement in statements:
        try:
            pretty = sqlglot.transpile(statement, read="databricks", write="databricks", pretty=True)[0]
        except sqlglot.errors.SqlglotError:
            pretty = statement
        blocks.append(f"```sql\n{pretty}\n```")
    return "\n\n".join(blocks)


_SECRET = re.compile(
    r"((?:AWS_ACCESS_KEY|AWS_SECRET_KEY|AWS_SESSION_TOKEN|AZURE_SAS_TOKEN)\s*=\s*)'(?:[^'\\]|\\.)*'", re.I
)
_SAS = re.compile(r"([?&](?:sig|se|sv|sp|st|spr|srt|ss|sr|skoid|sktid|skt|ske|sks|skv)=)[^&'\s]*", re.I)


def redact(sql: str) -> str:
    """The statement with credentials and SAS signatures replaced by <redacted>."""
    return _SAS.sub(r"\1<redacted>", _SECRET.sub(r"\1'<redacted>'", sql))


def redact_secrets(text: str, *secrets: str | None) -> str:
    """`text` with each given secret replaced by <redacted>."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def split_statements(script: str) -> list[str]:
    """The statements of a `;`-separated script; semicolons in strings, quoted names and comments do not split."""
    statements, start, i, n = [], 0, 0, len(script)
    while i < n:
        ch = script[i]
        if ch in "'\"`":
            i = end_of_quoted(script, i) - 1
        elif script.startswith("--", i):
            i = script.find("\n", i)
            i = n if i < 0 else i
        elif script.startswith("/*", i):
            i = script.find("*/", i + 2)
            i = n if i < 0 else i + 1
        elif ch == ";":
            statements.append(script[start:i])
            start = i + 1
        i += 1
    statements.append(script[start:])
    return [s.strip() for s in statements if _has_code(s)]


def end_of_quoted(text: str, start: int) -> int:
    """The index just past the string literal or quoted name opening at `start` (backslash escapes in strings,
    as Databricks reads them), or len(text) when it does not close."""
    quote_char, i, n = text[start], start + 1, len(text)
    while i < n and text[i] != quote_char:
        i += 2 if text[i] == "\\" and quote_char != "`" else 1
    return min(i + 1, n)


def _has_code(text: str) -> bool:
    without = re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    return bool(without.strip())
