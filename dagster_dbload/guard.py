"""The guard against foreign writers: before a write (a replace, or any with `foreign_writes_check="every_write"`),
the table's history since this asset's last write is compared with what this asset's materializations wrote.
Commits that none of them made are someone else's: warned about, or with `foreign_writes="strict"` the write is
refused before anything is staged.

Each guarded write records `dbload/base_version`, the table's version just before it. Its own commit is then the
first commit after that version with its operation and row counts (DESCRIBE HISTORY's operationMetrics), so no
statement is spent asking the version after the write; the asset's other partitions are found the same way.

The same history tells when the table's row count is known without counting: an unpartitioned asset whose last
write recorded `dagster/row_count`, with nothing but that write's own commits since, still holds that many rows;
an append or merge then adds what its own answer says it inserted, less what it deleted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetObservation, AssetRecordsFilter, DagsterInvariantViolationError, MetadataValue, OutputContext

BASE_VERSION = "dbload/base_version"
FOREIGN = "dbload/foreign_writes"
_RUN = "dbload/run_id"  # on an announcement: the run about to write
HISTORY_LIMIT = 100  # commits read before a guarded write
_LOOKBACK = 50  # this asset's materializations searched for its own commits
_OPERATIONS = {"replace": "WRITE", "append": "COPY INTO"}  # the keyed modes: MERGE
_OWN_DDL = {"CREATE TABLE", "ADD COLUMNS", "SET TBLPROPERTIES", "CHANGE COLUMN", "UPGRADE PROTOCOL"}
ROW_COUNT = "dagster/row_count"
_COUNTED = {"replace", "append", "merge", "insert_only"}  # modes whose dagster/row_count is the table's count(*)


@dataclass(frozen=True)
class Commit:
    """One row of DESCRIBE HISTORY."""

    version: int
    operation: str
    user: str | None = None
    timestamp: dt.datetime | None = None
    metrics: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        by = f" by {self.user}" if self.user else ""
        at = f" at {self.timestamp:%Y-%m-%d %H:%M:%S %Z}".rstrip() if self.timestamp else ""
        return f"version {self.version}: {self.operation}{by}{at}"


@dataclass(frozen=True)
class Check:
    """What a guarded write found: the table's version before it, and the foreign commits since the asset's
    last write."""

    base: int
    foreign: tuple[str, ...] = ()
    rows: int | None = None  # the table's rows at `base`, when known without counting (see `rows_before`)


@dataclass(frozen=True)
class OwnWrite:
    """One of this asset's materializations, as its metadata tells: the version before it and what it wrote."""

    base: int
    mode: str
    rows: Mapping[str, int]  # staged, inserted, updated, deleted
    partition: str | None = None
    table_rows: int | None = None  # the materialization's dagster/row_count (None: not recorded, or an announcement)


def commits(rows: Sequence[Any]) -> list[Commit]:
    """DESCRIBE HISTORY's rows, oldest first."""
    found = []
    for row in rows:
        values = row.asDict() if hasattr(row, "asDict") else dict(row)
        metrics = values.get("operationMetrics") or {}
        metrics = dict(metrics.items() if isinstance(metrics, Mapping) else metrics)
        found.append(Commit(int(values["version"]), str(values["operation"]), values.get("userName"),
                            values.get("timestamp"), {k: str(v) for k, v in metrics.items()}))  # fmt: skip
    return sorted(found, key=lambda c: c.version)


def _matches(write: OwnWrite, commit: Commit) -> bool:
    """Whether `commit` is the load of `write`: its operation, and its row counts where the history has them."""
    if commit.operation != _OPERATIONS.get(write.mode, "MERGE"):
        return False
    if write.mode in _OPERATIONS:
        expected = {"numOutputRows": write.rows.get("staged" if write.mode == "replace" else "inserted")}
    else:
        expected = {"numTargetRowsInserted": write.rows.get("inserted"), "numTargetRowsUpdated":
                    write.rows.get("updated"), "numTargetRowsDeleted": write.rows.get("deleted")}  # fmt: skip
    return all(
        str(value) == commit.metrics[name]
        for name, value in expected.items()
        if value is not None and name in commit.metrics
    )


def _claim(history: Sequence[Commit], writes: Sequence[OwnWrite]) -> tuple[set[int], list[Commit | None]]:
    """The versions in `history` that `writes` (oldest first) made, and each write's own commit (None: not found).
    A write's own commit is the first unclaimed commit after its base version that matches it; the schema changes
    between its base and its commit are its DDL."""
    claimed: set[int] = set()
    found: list[Commit | None] = []
    for write in writes:
        commit = next((c for c in history if c.version > write.base and c.version not in claimed
                       and _matches(write, c)), None)  # fmt: skip
        if commit is not None:
            claimed.add(commit.version)
            claimed |= {c.version for c in history if write.base < c.version < commit.version
                        and c.operation in _OWN_DDL}  # fmt: skip
        found.append(commit)
    return claimed, found


def foreign(history: Sequence[Commit], writes: Sequence[OwnWrite], partition: str | None) -> list[Commit]:
    """The commits in `history` (oldest first) after this asset's last write of `partition` that none of its
    `writes` (oldest first) made."""
    claimed, found = _claim(history, writes)
    since: int | None = None
    for write, commit in zip(writes, found, strict=True):
        if write.partition == partition:
            since = commit.version if commit is not None else write.base
    if since is None:
        return []
    return [c for c in history if c.version > since and c.version not in claimed]


def rows_before(history: Sequence[Commit], writes: Sequence[OwnWrite], partition: str | None) -> int | None:
    """The table's rows at the last version in `history` (oldest first), known without counting, else None.

    Known when the asset is unpartitioned, its last write (of `writes`, oldest first) is a materialization that
    recorded the table's row count, and every commit after that write's base version is its own: its load's
    commit and its DDL, all within `history`. Anything else (another writer, a write that announced itself but
    never materialized, a history too short to tell) leaves it unknown."""
    if partition is not None or not writes or not history:
        return None
    last = writes[-1]
    if last.partition is not None or last.table_rows is None or last.mode not in _COUNTED:
        return None
    commit = _claim(history, writes)[1][-1]
    if commit is None or history[0].version > last.base + 1:
        return None
    own = {commit.version} | {c.version for c in history if last.base < c.version < commit.version
                              and c.operation in _OWN_DDL}  # fmt: skip
    if any(c.version > last.base and c.version not in own for c in history):
        return None
    return last.table_rows


def keeps_runs(context: OutputContext) -> bool:
    """Whether Dagster keeps this asset's runs to compare with (not an ephemeral instance, nor a context built
    outside a run)."""
    try:
        instance = context.step_context.instance
    except DagsterInvariantViolationError:
        return False
    return context.has_asset_key and not instance.is_ephemeral


def own_writes(context: OutputContext) -> list[OwnWrite]:
    """This asset's guarded writes (every partition), oldest first: its materializations, and the announcements
    of writes still running (another partition's run may have committed without having materialized yet). Read
    after the table's history: a commit in that history was announced before it was made, so it is found here."""
    instance = context.step_context.instance
    found = AssetRecordsFilter(asset_key=context.asset_key)
    records = [*instance.fetch_materializations(found, limit=_LOOKBACK).records,
               *instance.fetch_observations(found, limit=_LOOKBACK).records]  # fmt: skip
    writes: dict[str, tuple[int, OwnWrite]] = {}  # run -> (storage id, write): a materialization over its announcement
    for record in sorted(records, key=lambda r: r.storage_id):
        event = record.asset_materialization or record.asset_observation
        if event is None:
            continue
        metadata = event.metadata
        if BASE_VERSION not in metadata or "dbload/write_mode" not in metadata:
            continue
        run = str(metadata[_RUN].value) if _RUN in metadata else record.run_id
        rows = {name: _int(metadata[f"dbload/{key}"]) for name, key in
                (("staged", "staged_rows"), ("inserted", "rows_inserted"), ("updated", "rows_updated"),
                 ("deleted", "rows_deleted")) if f"dbload/{key}" in metadata}  # fmt: skip
        counted = _int(metadata[ROW_COUNT]) if record.asset_materialization and ROW_COUNT in metadata else None
        first = writes.get(run, (record.storage_id, None))[0]
        writes[run] = (first, OwnWrite(_int(metadata[BASE_VERSION]), str(metadata["dbload/write_mode"].value),
                                       rows, event.partition, counted))  # fmt: skip
    return [write for _, write in sorted(writes.values(), key=lambda w: w[0])]


def _int(entry: MetadataValue) -> int:
    """The number an integer metadata entry holds."""
    value = entry.value
    if not isinstance(value, (int, float, str)):
        raise ValueError(f"Expected a number in metadata, found {value!r}.")
    return int(value)


def announce(context: OutputContext, check: Check, mode: str, staged_rows: int) -> None:
    """Before the load statement: tell Dagster's instance at once (not with the step's events) that this write is
    about to commit after `check.base`, so that a concurrent run of another partition finds it is ours."""
    observation = AssetObservation(
        asset_key=context.asset_key,
        description=f"About to write after table version {check.base} (dagster-dbload's guard against other writers "
        "notes each write here first, so that concurrent runs of other partitions know its commit).",
        partition=context.asset_partition_key
        if context.has_asset_partitions and len(context.asset_partition_keys) == 1
        else None,
        metadata={
            BASE_VERSION: check.base,
            "dbload/write_mode": mode,
            "dbload/staged_rows": staged_rows,
            _RUN: context.run_id,
        },  # fmt: skip
    )
    context.step_context.instance.report_runless_asset_event(observation)
