"""One load: reconcile the table with the output's columns, then one statement moves the staged rows in."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import partitions, sql
from .naming import TableRef, quote
from .partitions import PartitionSlice
from .request import KEYED_MODES, ReadRequest, WriteRequest
from .retrying import retrying
from .sql import ColumnSpec
from .types import canonical_type, fits

MAX_COPY_FILES = 1000  # COPY INTO's FILES list


class SchemaMismatchError(ValueError):
    """The output's columns do not fit the existing table."""


@dataclass(frozen=True)
class WriteSpec:
    """How one output is written."""

    mode: str = "replace"
    schema_evolution: str = "add_columns"
    partition_by: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()
    comment: str | None = None
    primary_key: tuple[str, ...] = ()
    dedupe_by: str | None = None
    version_by: str | None = None  # merge: a table row is only updated by a row at least as new by this column
    delete_missing: bool = False  # merge: table rows (of the partition) the output lacks are deleted
    hard_delete: str | None = None  # merge: a boolean output column; true deletes the matching row (not stored)
    partitions: tuple[PartitionSlice, ...] = ()
    scd2: sql.Scd2Columns = sql.Scd2Columns()  # scd2: the history columns the table adds
    scd2_close_missing: bool = True  # scd2: current keys (of the partition) the output lacks are closed
    valid_at: dt.datetime | None = None  # scd2: when the changes take effect (run or partition start)
    create_table: bool = True
    column_mapping: bool = False  # create the table with Delta column mapping (any column name)
    defer_empty_columns: bool = False  # all-null untyped columns the table lacks wait for their first values
    change_data_feed: bool = False  # the table records Delta's change data feed


@dataclass
class Plan:
    """The statements of one load: the DDL (table creation or evolution), decided before staging, and the load
    statement, built from the staged files before any of them runs."""

    create: bool
    columns: list[ColumnSpec]  # the output's columns, typed as they are staged
    ddl: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # all-null untyped columns not created until values arrive
    load: str = ""


# Delta's optimistic-concurrency failures: the statement did not commit, so running it again is safe.
_CONFLICT = re.compile(
    r"\[(DELTA_CONCURRENT_\w+|DELTA_METADATA_CHANGED|DELTA_PROTOCOL_CHANGED)(\.\w+)?\]"
    r"|Concurrent(Append|DeleteRead|DeleteDelete|Transaction|Write)Exception|MetadataChangedException"
    r"|ProtocolChangedException"
)


def is_conflict(error: BaseException) -> bool:
    """Whether `error` is a Delta write conflict with a concurrent transaction (nothing was committed)."""
    return bool(_CONFLICT.search(str(error)))


_WATCHING = threading.Lock()
_WATCHERS: list[int] = []
_SAVED_LEVEL: list[int] = [logging.NOTSET, logging.WARNING]  # urllib3's own level and the level it showed


@contextlib.contextmanager
def _resends() -> Iterator[list[str]]:
    """What urllib3 logs on this thread when it sends a request again after the connection broke mid-request:
    databricks-sql-connector resends a statement whose answer was lost, so the statement may have run twice and
    the answer is the second run's."""
    seen: list[str] = []
    thread = threading.get_ident()
    logger = logging.getLogger("urllib3.connectionpool")
    with _WATCHING:  # threads share the logger: its level is lowered by the first watcher, restored by the last
        if not _WATCHERS:
            _SAVED_LEVEL[:] = [logger.level, logger.getEffectiveLevel()]
            logger.setLevel(min(_SAVED_LEVEL[1], logging.WARNING))  # heard even where urllib3's warnings are silenced
        _WATCHERS.append(thread)
    shown = _SAVED_LEVEL[1]

    class Watch(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.thread == thread and str(record.msg).startswith("Retrying"):
                seen.append(record.getMessage())
            return record.levelno >= shown  # what was shown before stays shown; nothing more

    watch = Watch()
    logger.addFilter(watch)
    try:
        yield seen
    finally:
        logger.removeFilter(watch)
        with _WATCHING:
            _WATCHERS.remove(thread)
            if not _WATCHERS:
                logger.setLevel(_SAVED_LEVEL[0])


class Session:
    """A cursor that records every statement it runs, credentials redacted, and runs a statement again
    (up to `conflict_retries` times, on the package's retry policy) when a concurrent writer won. `resent` lists
    the statements whose request the connector had to send again (their answer may be a second run's)."""

    def __init__(
        self, cursor: Any, conflict_retries: int = 0, warn: Callable[[str], None] | None = None,
        backoff_seconds: float = 0.2,
    ):  # fmt: skip
        self.cursor = cursor
        self.statements: list[str] = []
        self.conflict_retries = conflict_retries
        self.conflicts = 0
        self.resent: list[str] = []
        self.backoff_seconds = backoff_seconds
        self._warn = warn

    def run(self, statement: str, recorded_if_failed: bool = True) -> Any:
        """Run `statement` (again after a write conflict); it is recorded, redacted, as sent (with
        `recorded_if_failed=False` only once it succeeded: a first try that another statement answers)."""
        if recorded_if_failed:
            self.statements.append(sql.redact(statement))

        def again(error: BaseException, delay: float, attempt: int) -> None:
            self.conflicts += 1
            if self._warn:
                self._warn(f"A concurrent writer changed the table first ({sql.redact(str(error))[:200]}); "
                           f"running the statement again in {delay:.1f}s.")  # fmt: skip

        with _resends() as resends:
            for attempt in retrying(is_conflict, attempts=self.conflict_retries + 1,
                                    first_delay=self.backoff_seconds, before_sleep=again):  # fmt: skip
                with attempt:
                    self.cursor.execute(statement)
        if not recorded_if_failed:
            self.statements.append(sql.redact(statement))
        if resends:
            self.resent.append(self.statements[-1])
        return self.cursor

    def run_in_schema(self, statement: str, create_schema: str) -> Any:
        """Run `statement`, which makes an object in a schema; where it finds the schema missing, `create_schema`
        first and it again (an existing schema costs one statement, and no privilege to create schemas). Only the
        statements that succeeded are recorded."""
        try:
            return self.run(statement, recorded_if_failed=False)
        except Exception as e:
            if "SCHEMA_NOT_FOUND" not in str(e):
                raise
        self.run(create_schema)
        return self.run(statement)


@dataclass(frozen=True)
class TableInfo:
    """An existing table as DESCRIBE TABLE EXTENDED shows it."""

    columns: list[ColumnSpec]
    properties: dict[str, str]


def describe(session: Session, ref: TableRef) -> TableInfo | None:
    """The table's columns and properties, or None when it does not exist: one statement."""
    try:
        rows = session.run(sql.describe_table(ref)).fetchall()
    except Exception as e:  # both warehouses raise ServerOperationError; real Databricks wording matches
        if "TABLE_OR_VIEW_NOT_FOUND" in str(e):
            return None
        raise
    columns: list[ColumnSpec] = []
    properties: dict[str, str] = {}
    in_columns = True
    for name, data_type, comment in (tuple(r) for r in rows):
        if not name or name.startswith("#"):
            in_columns = False
        elif in_columns:
            columns.append(ColumnSpec(name, data_type, comment))
        elif name == "Table Properties" and data_type:
            properties = dict(_PROPERTY.findall(data_type.strip("[]")))
    return TableInfo(columns, properties)


_PROPERTY = re.compile(r"([\w.-]+)=([^,]*)")


def validate(who: str, spec: WriteSpec, columns: Sequence[ColumnSpec]) -> None:
    """Columns the settings name must be in the output: checked before anything is staged or created."""
    names = {c.name.lower() for c in columns}
    for key, wanted in (
        ("primary_key", spec.primary_key),
        ("dedupe_by", (spec.dedupe_by,) if spec.dedupe_by else ()),
        ("version_by", (spec.version_by,) if spec.version_by else ()),
        ("hard_delete", (spec.hard_delete,) if spec.hard_delete else ()),
        ("partition_by", spec.partition_by),
        ("cluster_by", spec.cluster_by),
    ):
        missing = [n for n in wanted if n.lower() not in names]
        if missing:
            raise ValueError(
                f"{who}: {key} column(s) {missing} are not in the output, whose columns are "
                f"{[c.name for c in columns]}. Fix {key} or add the column(s)."
            )
    if spec.mode == "scd2":
        for key, name in (("scd2_valid_from", spec.scd2.valid_from), ("scd2_valid_to", spec.scd2.valid_to),
                          ("scd2_row_hash", spec.scd2.row_hash)):  # fmt: skip
            if name.lower() in names:
                raise ValueError(
                    f"{who}: the output has a column {name!r}, which write_mode='scd2' keeps its history in. Rename "
                    f"the column, or name the history column differently with metadata {key!r}."
                )


def plan(
    ref: TableRef,
    spec: WriteSpec,
    columns: Sequence[ColumnSpec],
    existing: list[ColumnSpec] | None,
    untyped: frozenset[str] = frozenset(),
    properties: Mapping[str, str] | None = None,
) -> Plan:
    """DDL that makes the table fit the output; mismatches raise before anything is written. An existing table
    (with `properties`) gets the change data feed when the spec asks for it and it lacks it.

    `untyped` output columns (all null, no declared type) take the table's type; with `defer_empty_columns`
    one the table lacks is left out, so that its type is decided by its first values, not by a batch without
    any. Output columns that fit a wider table type (INT -> BIGINT, BIGINT -> DOUBLE) are staged as that type."""
    history = spec.scd2.specs() if spec.mode == "scd2" else []
    lacking = [
        h.name for h in history if existing is not None and h.name.lower() not in {c.name.lower() for c in existing}
    ]
    if lacking:
        raise SchemaMismatchError(
            f"Cannot keep scd2 history in {ref}: it was not written with write_mode='scd2' (it lacks {lacking}). "
            "Write the history to a new table (metadata 'table'), or drop this one first."
        )
    staged = _plan(ref, spec, [*columns, *history], existing, untyped)
    if spec.change_data_feed and existing is not None and not _feed_on(properties or {}):
        staged.ddl.append(sql.set_properties(ref, sql.CHANGE_DATA_FEED))
    staged.columns = [c for c in staged.columns if c.name not in {h.name for h in history}]
    return staged


def _plan(
    ref: TableRef, spec: WriteSpec, columns: Sequence[ColumnSpec], existing: list[ColumnSpec] | None,
    untyped: frozenset[str],
) -> Plan:  # fmt: skip
    have = {c.name.lower() for c in existing or []}
    named = (*spec.primary_key, *spec.partition_by, *spec.cluster_by, *(p.expr for p in spec.partitions),
             spec.dedupe_by or "", spec.version_by or "")  # fmt: skip
    keep = have | {n.lower() for n in named}
    dropped = [c.name for c in columns if c.name in untyped and c.name.lower() not in keep]
    if not spec.defer_empty_columns or spec.schema_evolution != "add_columns" or len(dropped) == len(columns):
        dropped = []
    columns = [c for c in columns if c.name not in dropped]
    if existing is None:
        if not spec.create_table:
            raise SchemaMismatchError(
                f"Table {ref} does not exist and this asset may not create it (create_table=False). Create the "
                "table first, or allow creating it (create_table=True; create_delta_table=True for SuperAnnotate)."
            )
        return Plan(
            create=True,
            columns=columns,
            ddl=[
                sql.create_schema(ref.catalog, ref.schema),
                sql.create_table(
                    ref,
                    columns,
                    spec.partition_by,
                    spec.cluster_by,
                    spec.comment,
                    {
                        **sql.ROW_LEVEL_CONCURRENCY,
                        **(sql.COLUMN_MAPPING if spec.column_mapping else {}),
                        **(sql.CHANGE_DATA_FEED if spec.change_data_feed else {}),
                    },
                    (*spec.primary_key, spec.scd2.valid_from) if spec.mode == "scd2" else spec.primary_key,
                ),  # fmt: skip
            ],
            dropped=dropped,
        )
    by_name = {c.name.lower(): c for c in existing}
    columns = [
        dataclasses.replace(c, type=by_name[c.name.lower()].type) if c.name in untyped and c.name.lower() in by_name
        else c
        for c in columns
    ]  # fmt: skip
    output = {c.name.lower() for c in columns}
    new = [c for c in columns if c.name.lower() not in by_name]
    missing = [c.name for c in existing if c.name.lower() not in output]
    shared = [(c, by_name[c.name.lower()]) for c in columns if c.name.lower() in by_name]
    widened = [(c, t) for c, t in shared if fits(t.type, c.type) and not fits(c.type, t.type, cast=True)]
    changed = [(c, t) for c, t in shared if not fits(c.type, t.type, cast=True) and (c, t) not in widened]
    if changed:
        details = "; ".join(_difference(c, t) for c, t in changed)
        raise SchemaMismatchError(
            f"Cannot write to {ref}: {details}. Cast the output column to the table's type, or drop and recreate "
            "the table to change its type."
        )
    retyped = [
        _difference(c, t)
        for c, t in shared
        if c.name not in untyped and canonical_type(c.type) != canonical_type(t.type)
    ]
    if spec.schema_evolution == "strict" and (new or missing or retyped):
        differences = [
            *([f"the output adds columns {[c.name for c in new]}"] if new else []),
            *([f"the output lacks table columns {missing}"] if missing else []),
            *retyped,
        ]
        raise SchemaMismatchError(
            f"Cannot write to {ref} with schema_evolution='strict': {'; '.join(differences)}. Make the output "
            "match the table, or set schema_evolution='add_columns'."
        )
    ddl = [sql.add_columns(ref, new)] if new else []
    if widened:  # e.g. INT -> BIGINT: Delta type widening keeps the data and history
        ddl.append(sql.enable_type_widening(ref))
        ddl += [sql.widen_column(ref, t.name, c.type) for c, t in widened]
    ddl += [
        sql.comment_column(ref, c.name, c.comment)
        for c in columns
        if c.comment and c.name.lower() in by_name and by_name[c.name.lower()].comment != c.comment
    ]
    casts = {
        c.name: t.type for c, t in shared if canonical_type(c.type) != canonical_type(t.type) and (c, t) not in widened
    }
    staged = [dataclasses.replace(c, type=casts.get(c.name, c.type)) for c in columns]
    return Plan(create=False, columns=staged, ddl=ddl, dropped=dropped)


def _difference(output: ColumnSpec, table: ColumnSpec) -> str:
    """How a shared column differs, with the output column's description (it may name where it comes from)."""
    about = f" ({output.comment})" if output.comment else ""
    return f"column {table.name!r}{about} is {table.type.upper()} in the table, {output.type} in the output"


def load_statement(
    ref: TableRef, spec: WriteSpec, columns: Sequence[ColumnSpec], url: str, files: Sequence[str] = ()
) -> str:
    """The one statement that moves the staged rows into the table. An append loads exactly `files` (names
    under `url`); the other modes read all of `url`, a folder of this attempt's files only."""
    names = [c.name for c in columns]
    types = {c.name: c.type for c in columns}
    if spec.mode == "append":
        if len(files) > MAX_COPY_FILES:
            raise ValueError(
                f"{len(files)} staged files exceed COPY INTO's limit of {MAX_COPY_FILES} files per statement: "
                "raise the IO manager's target_file_mb."
            )
        return sql.copy_into(ref, url, merge_schema=spec.schema_evolution == "add_columns", files=files)
    if spec.mode == "scd2":
        assert spec.valid_at is not None
        scope = (lambda q: partitions.predicate(spec.partitions, types, qualifier=q)) if spec.partitions else None
        return sql.scd2_merge(
            ref,
            names,
            spec.primary_key,
            url,
            spec.valid_at,
            spec.scd2,
            scope,
            spec.dedupe_by,
            spec.scd2_close_missing,
        )
    if spec.mode in KEYED_MODES:
        target = partitions.predicate(spec.partitions, types, qualifier="t.") if spec.partitions else None
        return sql.merge(
            ref, names, spec.primary_key, url, target, spec.dedupe_by, spec.version_by, spec.delete_missing,
            insert_only=spec.mode == "insert_only", hard_delete=spec.hard_delete,
        )  # fmt: skip
    if spec.partitions:
        return sql.replace_where(ref, names, url, partitions.predicate(spec.partitions, types))
    return sql.insert_overwrite(ref, names, url)


def apply_tags(session: Session, ref: TableRef, wanted: Mapping[str, str]) -> None:
    """Unity Catalog tags on the table: one read of information_schema.table_tags, then one SET TAGS holding
    only the tags that differ (none when all match). Tags set by others are left alone."""
    have = {row[0]: row[1] for row in session.run(sql.table_tags(ref)).fetchall()}
    changed = {k: v for k, v in wanted.items() if have.get(k) != v}
    if changed:
        session.run(sql.set_tags(ref, changed))


@dataclass(frozen=True)
class TableState:
    """The table after a load: its (partition's) rows, for scd2 the current versions; every scd2 version; its
    Delta version. None where it was not asked."""

    rows: int | None = None
    history_rows: int | None = None
    version: int | None = None


def table_state(
    session: Session, wanted: WriteRequest, columns: Sequence[ColumnSpec], staged_rows: int,
    counts: Mapping[str, int], before: int | None = None,
) -> TableState:  # fmt: skip
    """What `table_stats` asks after the load: the Delta version, then the row counts. Without it the row count is
    given where it is known for free (`derived_rows`); `before` is the table's rows before the load when known
    (0 for a table the load created)."""
    mode = wanted.settings.mode
    if not wanted.settings.table_stats:
        return TableState(rows=derived_rows(mode, staged_rows, counts, before))
    version = _table_version(session, wanted.ref)
    if mode == "replace":
        return TableState(rows=staged_rows, version=version)
    types = {c.name: c.type for c in columns}
    where = partitions.predicate(wanted.partitions, types) if wanted.partitions else None
    if mode == "scd2":
        history, current = session.run(sql.count_versions(wanted.ref, wanted.settings.scd2.valid_to, where)).fetchone()
        return TableState(current, history, version)
    return TableState(session.run(sql.count_rows(wanted.ref, where)).fetchone()[0], None, version)


def derived_rows(mode: str, staged_rows: int, counts: Mapping[str, int], before: int | None) -> int | None:
    """The table's (partition's) rows after a load, without counting: a replace leaves exactly the staged rows; an
    append or merge leaves the rows before it (`before`, None when unknown) plus what its own answer (`counts`)
    says it inserted, less what it deleted. None when that is not known (scd2: its count is of current versions)."""
    if mode == "replace":
        return staged_rows
    if before is None or mode == "scd2" or "inserted" not in counts:
        return None
    if mode == "append":  # fewer: COPY INTO skipped files loaded before, maybe by this load's lost first answer
        return before + staged_rows if counts["inserted"] == staged_rows else None
    return before + counts["inserted"] - counts["deleted"] if "deleted" in counts else None


def read_scope(wanted: ReadRequest, existing: Sequence[ColumnSpec]) -> tuple[list[str] | None, str | None]:
    """The columns and WHERE of a read: the input's columns of its partitions. An scd2 table reads as its current
    rows without the history columns, a snapshot partition as the versions valid at its end, and with
    `scd2_history` every version with its validity columns."""
    columns = list(wanted.columns) if wanted.columns else None
    types = {c.name: c.type for c in existing}
    where = partitions.predicate(wanted.partitions, types) if wanted.partitions else None
    scd2 = wanted.settings.scd2
    if wanted.settings.mode != "scd2":
        return columns, where
    hidden = {scd2.row_hash.lower()}
    if not wanted.scd2_history:
        hidden |= {scd2.valid_from.lower(), scd2.valid_to.lower()}
    columns = [c for c in (columns or [c.name for c in existing]) if c.lower() not in hidden]
    if wanted.scd2_history:
        return columns, where
    frm, to = quote(scd2.valid_from), quote(scd2.valid_to)
    if wanted.scd2_moment is not None:
        moment = sql.timestamp(wanted.scd2_moment)
        return columns, f"{frm} <= {moment} AND ({to} IS NULL OR {to} > {moment})"
    return columns, f"({where}) AND {to} IS NULL" if where else f"{to} IS NULL"


def _table_version(session: Session, ref: TableRef) -> int | None:
    row = session.run(sql.describe_history(ref, 1)).fetchone()
    return None if row is None else int(row[0])


def table_version(session: Session, ref: TableRef) -> int:
    """The table's current Delta version: one DESCRIBE HISTORY ... LIMIT 1."""
    version = _table_version(session, ref)
    if version is None:
        raise ValueError(f"Table {ref} has no history to read changes from.")
    return version


def _feed_on(properties: Mapping[str, str]) -> bool:
    """Whether table properties (keys in any case) turn the change data feed on."""
    return any(k.lower() == "delta.enablechangedatafeed" and v.lower() == "true" for k, v in properties.items())


def feed_problem(ref: TableRef, table: TableInfo, start: int | None) -> str | None:
    """Why the change data feed cannot answer a read from version `start` (None: it can, or no feed is needed)."""
    if start is None or _feed_on(table.properties):
        return None
    return f"{ref} does not record its change data feed (delta.enableChangeDataFeed is not true)"


_FEED_GONE = re.compile(r"DELTA_MISSING_CHANGE_DATA|DELTA_CHANGE_DATA_FILE_NOT_FOUND|DELTA_CHANGE_TABLE_FEED_DISABLED")


def feed_gone(error: BaseException) -> bool:
    """Whether a change feed read failed because the feed does not hold the versions (never on, or vacuumed)."""
    return bool(_FEED_GONE.search(str(error)))


def changes_query(wanted: ReadRequest, table: TableInfo, start: int | None, end: int) -> str | None:
    """An incremental read of versions `start`..`end`: the change feed, or with no `start` the table as of `end`
    with every row an insert; None when there is nothing to read (`start` past `end`)."""
    assert wanted.changes is not None
    columns, where = read_scope(wanted, table.columns)
    if start is None:
        return sql.as_inserts(wanted.ref, columns, end, where)
    if start > end:
        return None
    return sql.table_changes(wanted.ref, columns, start, end, where, wanted.changes.preimages)


def require_column_mapping(ref: TableRef, table: TableInfo, names: Sequence[str]) -> None:
    """Column names that need Delta column mapping are refused on a table without it, naming the fix."""
    if table.properties.get("delta.columnMapping.mode", "").lower() in ("name", "id"):
        return
    raise SchemaMismatchError(
        f"Columns {list(names)} of the output need Delta column mapping (their names hold spaces or any of "
        f"',;{{}}()='), which {ref} does not use. Enable it once with: "
        f"{sql.set_properties(ref, sql.COLUMN_MAPPING)}; or rename the columns."
    )


def drop_if_unwritten(session: Session, ref: TableRef) -> bool:
    """Drop a table this materialization created when nothing but its creation is in its history (no other
    writer has committed to it since); returns whether it was dropped."""
    try:
        history = session.run(sql.describe_history(ref, 2)).fetchall()
    except Exception:  # noqa: BLE001 - the table may be gone or unreadable; then there is nothing to drop
        return False
    if len(history) != 1 or not str(history[0].operation).upper().startswith("CREATE"):
        return False
    session.run(sql.drop_table(ref))
    return True
