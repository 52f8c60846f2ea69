"""Dagster partitions as typed Databricks predicates, and a guard that finds output rows outside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dagster import MultiPartitionsDefinition, PartitionsDefinition, TimeWindowPartitionsDefinition

from .naming import quote
from .sql import literal


@dataclass(frozen=True)
class PartitionSlice:
    """The rows of one partition dimension: a time window [start, end) or a set of keys."""

    column: str
    keys: tuple[str, ...]
    start: dt.datetime | None = None  # tz-aware, in the partition definition's timezone
    end: dt.datetime | None = None

    @property
    def is_window(self) -> bool:
        return self.start is not None


def slices(
    who: str, partitions_def: PartitionsDefinition, keys: Sequence[str], partition_expr: Any
) -> list[PartitionSlice]:
    """One slice per dimension for the partition keys a run writes or reads."""
    if partition_expr is None:
        example = (
            "{" + ", ".join(f"'{d.name}': '<column>'" for d in partitions_def.partitions_defs) + "}"
            if isinstance(partitions_def, MultiPartitionsDefinition)
            else "'<column>'"
        )
        raise ValueError(
            f"{who} is partitioned, so DatabricksIOManager needs to know which column holds the partition: add "
            f"metadata={{'partition_expr': {example}}} to its definition."
        )
    if isinstance(partitions_def, MultiPartitionsDefinition):
        if not isinstance(partition_expr, Mapping):
            raise ValueError(f"{who} has multi-partitions: partition_expr must be a dict of dimension -> column.")
        out = []
        for dim in partitions_def.partitions_defs:
            if dim.name not in partition_expr:
                raise ValueError(f"{who}: partition_expr has no column for the partition dimension {dim.name!r}.")
            values = sorted({k.keys_by_dimension[dim.name] for k in keys})  # type: ignore[attr-defined]
            out.append(_slice(dim.partitions_def, values, partition_expr[dim.name]))
        return out
    if not isinstance(partition_expr, str):
        raise ValueError(f"{who}: partition_expr must be a column name (a dict only for multi-partitions).")
    return [_slice(partitions_def, list(keys), partition_expr)]


def _slice(partitions_def: PartitionsDefinition, keys: list[str], column: str) -> PartitionSlice:
    if isinstance(partitions_def, TimeWindowPartitionsDefinition):
        windows = [partitions_def.time_window_for_partition_key(k) for k in keys]
        return PartitionSlice(column, tuple(keys), min(w.start for w in windows), max(w.end for w in windows))
    return PartitionSlice(column, tuple(keys))


def _time_literal(moment: dt.datetime, column_type: str) -> str:
    kind = column_type.upper()
    if kind == "DATE":
        return f"DATE{literal(moment.date().isoformat())}"
    if kind == "TIMESTAMP_NTZ":
        return f"TIMESTAMP_NTZ{literal(moment.replace(tzinfo=None).isoformat(sep=' '))}"
    if kind == "TIMESTAMP":
        return f"TIMESTAMP{literal(moment.isoformat(sep=' '))}"
    raise AssertionError(kind)


def predicate(parts: Sequence[PartitionSlice], column_types: Mapping[str, str], qualifier: str = "") -> str:
    """`col >= <start> AND col < <end>` for windows on DATE/TIMESTAMP columns, else `col IN (<keys>)`."""
    clauses = []
    types = {k.lower(): v for k, v in column_types.items()}
    for part in parts:
        column = f"{qualifier}{quote(part.column)}"
        column_type = types[part.column.lower()].upper()
        if part.is_window and column_type in ("DATE", "TIMESTAMP", "TIMESTAMP_NTZ"):
            clauses.append(
                f"{column} >= {_time_literal(part.start, column_type)} "
                f"AND {column} < {_time_literal(part.end, column_type)}"
            )
        else:
            clauses.append(f"{column} IN ({', '.join(literal(k) for k in part.keys)})")
    return " AND ".join(f"({c})" if len(parts) > 1 else c for c in clauses)


def check_columns(who: str, parts: Sequence[PartitionSlice], column_types: Mapping[str, str]) -> None:
    types = {k.lower() for k in column_types}
    for part in parts:
        if part.column.lower() not in types:
            raise ValueError(
                f"{who}: partition_expr names column {part.column!r}, which the output does not have. "
                f"partition_expr must be one of the output's columns: {sorted(column_types)}."
            )


def guard(reader: pa.RecordBatchReader, parts: Sequence[PartitionSlice], who: str) -> pa.RecordBatchReader:
    """The stream, raising before the load if any row lies outside the partition being written."""

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            for part in parts:
                _check_batch(batch, part, who)
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _check_batch(batch: pa.RecordBatch, part: PartitionSlice, who: str) -> None:
    # column names match case-insensitively, as on Databricks (check_columns made sure there is one)
    (index,) = [i for i, name in enumerate(batch.schema.names) if name.lower() == part.column.lower()]
    values = batch.column(index)
    dtype = values.type
    if part.is_window and (pa.types.is_timestamp(dtype) or pa.types.is_date(dtype)):
        if pa.types.is_date(dtype):
            low, high = pa.scalar(part.start.date(), dtype), pa.scalar(part.end.date(), dtype)
        elif dtype.tz is None:
            low = pa.scalar(part.start.replace(tzinfo=None), dtype)
            high = pa.scalar(part.end.replace(tzinfo=None), dtype)
        else:
            low, high = pa.scalar(part.start, dtype), pa.scalar(part.end, dtype)
        inside = pc.and_(pc.greater_equal(values, low), pc.less(values, high))
        expected = f"in [{part.start.isoformat()}, {part.end.isoformat()})"
    else:
        inside = pc.is_in(pc.cast(values, pa.string()), value_set=pa.array(part.keys, pa.string()))
        expected = f"one of {list(part.keys)}"
    outside = pc.invert(pc.fill_null(inside, False))
    count = pc.sum(outside).as_py() or 0
    if count:
        example = values.filter(outside)[0].as_py()
        raise ValueError(
            f"{who}: {count} row(s) have {part.column!r} outside the partition being written "
            f"(expected {expected}, found e.g. {example!r}). Filter the output to the run's partition; "
            "REPLACE WHERE would refuse them."
        )
