"""Incremental inputs: which table versions an input reads next, from the reading asset's own materializations
(a re-execution reads the same versions again; a failed run records nothing, so the next run loses none), and
the metadata that records what was read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import AssetRecordsFilter, DagsterInvariantViolationError, InputContext

READ_VERSION = "dbload/read_version"  # the last version read, per input: "dbload/read_version/<upstream key>"
READ_FROM = "dbload/read_from"  # the first version read (absent: the whole table was read)
READ_MODE = "dbload/read_mode"
READ_ROWS = "dbload/read_rows"
_LOOKBACK = 100  # materializations of the reading asset searched for its last read


@dataclass(frozen=True)
class Versions:
    """The versions an input reads: `start` to `end` inclusive. `start` None: the whole table, as inserts (nothing
    was read before). `end` None: up to the table's current version."""

    start: int | None = None
    end: int | None = None


def next_read(context: InputContext, upstream: str, since: str | int) -> Versions:
    """What to read: from version `since`, or ("last_read") after the version this asset's newest materialization
    read; in a re-execution, the versions its original run read."""
    if since != "last_read":
        return Versions(int(since))
    try:
        step = context.step_context
    except DagsterInvariantViolationError:  # an input context built outside a run: nothing was read before
        return Versions()
    instance, run = step.instance, step.dagster_run
    lineage: set[str] = set()
    if run.root_run_id:
        group = instance.get_run_group(run.run_id)
        lineage = {r.run_id for r in group[1]} - {run.run_id} if group else {run.root_run_id}
    partitions = [step.partition_key] if step.has_partition_key else None
    newest: Versions | None = None
    for key in sorted(step.get_output_asset_keys(), key=lambda k: k.to_user_string()):
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=_LOOKBACK
        ).records
        for record in records:  # newest first
            metadata = record.asset_materialization.metadata if record.asset_materialization else {}
            read = _versions(metadata, upstream)
            if read is None:
                continue
            if record.run_id in lineage:
                return read
            assert read.end is not None  # _versions always reads the end
            newest = newest or Versions(read.end + 1)
    return newest or Versions()


def _versions(metadata: Any, upstream: str) -> Versions | None:
    end = metadata.get(f"{READ_VERSION}/{upstream}")
    if end is None:
        return None
    start = metadata.get(f"{READ_FROM}/{upstream}")
    return Versions(None if start is None else int(start.value), int(end.value))


def record(context: InputContext, upstream: str, read: Versions, mode: str, rows: int) -> None:
    """Put what was read on the reading step's materializations (every output: the step read it once)."""
    assert read.end is not None
    entries: dict[str, Any] = {f"{READ_VERSION}/{upstream}": read.end, f"{READ_MODE}/{upstream}": mode,
                               f"{READ_ROWS}/{upstream}": rows}  # fmt: skip
    if read.start is not None:
        entries[f"{READ_FROM}/{upstream}"] = read.start
    try:
        step = context.step_context
    except DagsterInvariantViolationError:
        return
    for output in step.op_def.output_defs:
        step.add_output_metadata(entries, output_name=output.name)
