"""Dagster partitions as typed Databricks predicates, and a guard that finds output rows outside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from dagster import MultiPartitionsDefinition, PartitionsDefinition, TimeWindowPartitionsDefinition
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from .sql import literal


@dataclass(frozen=True)
class PartitionSlice:
    """The rows of one partition dimension: a time window [start, end) or a set of keys, of `expr` (a column
    name or a Databricks SQL expression over the table's columns, as Dagster's `partition_expr`)."""

    expr: str
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
        raise ValueError(
            f"{who}: partition_expr must be a column name or SQL expression (a dict only for multi-partitions)."
        )
    return [_slice(partitions_def, list(keys), partition_expr)]


def _slice(partitions_def: PartitionsDefinition, keys: list[str], expr: str) -> PartitionSlice:
    if isinstance(partitions_def, TimeWindowPartitionsDefinition):
        windows = [partitions_def.time_window_for_partition_key(k) for k in keys]
        return PartitionSlice(expr, tuple(keys), min(w.start for w in windows), max(w.end for w in windows))
    return PartitionSlice(expr, tuple(keys))


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
    """`expr >= <start> AND expr < <end>` for time windows on a DATE/TIMESTAMP expression, else
    `expr IN (<keys>)`; columns are prefixed with `qualifier` (e.g. "t.") and literals typed like `expr`."""
    clauses = []
    for part in parts:
        expr, expr_type = _typed(part.expr, column_types)
        if qualifier:
            for column in expr.find_all(exp.Column):
                column.set("table", exp.to_identifier(qualifier.rstrip(".")))
        sql = expr.sql("databricks")
        if part.is_window and not isinstance(expr, exp.Column):
            sql = f"({sql})"
        unknown = expr_type in (None, "UNKNOWN")  # sqlglot could not type it: compare with timestamps
        if part.is_window and (expr_type in _TIME_TYPES or unknown):
            kind = "TIMESTAMP" if unknown or expr_type is None else expr_type
            assert part.start is not None and part.end is not None  # a window has both ends (see _slice)
            clauses.append(f"{sql} >= {_time_literal(part.start, kind)} AND {sql} < {_time_literal(part.end, kind)}")
        else:
            clauses.append(f"{sql} IN ({', '.join(literal(k) for k in part.keys)})")
    return " AND ".join(f"({c})" if len(parts) > 1 else c for c in clauses)


_TIME_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP_NTZ")
_NONDETERMINISTIC = (exp.Rand, exp.Randn, exp.Uuid, exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)
_NONDETERMINISTIC_NAMES = {"random", "uuid", "shuffle", "monotonically_increasing_id", "now", "rand", "randn",
                           "current_timestamp", "current_date", "localtimestamp", "unix_timestamp", "try_reflect",
                           "reflect", "java_method", "spark_partition_id", "input_file_name"}  # fmt: skip


def _column_named(expr: str, column_types: Mapping[str, str]) -> str | None:
    """The column `expr` names (matched case-insensitively, as on Databricks), or None for an expression."""
    wanted = expr.strip().strip("`").lower()
    return next((name for name in column_types if name.lower() == wanted), None)


def _parse(expr: str) -> exp.Expr:
    return sqlglot.parse_one(expr, read="databricks")


def _typed(expr: str, column_types: Mapping[str, str]) -> tuple[exp.Expr, str | None]:
    """The expression (a quoted column, or the parsed SQL) and its Databricks type when known."""
    column = _column_named(expr, column_types)
    if column is not None:
        return exp.column(column, quoted=True), column_types[column].upper()
    parsed = _parse(expr)
    schema: dict[str, object] = {"t": dict(column_types)}
    try:
        query = qualify(exp.select(parsed.copy().as_("p")).from_("t"), schema=schema, dialect="databricks")
        inferred = annotate_types(query, schema=schema, dialect="databricks").selects[0].type
        kind = inferred.sql("databricks").upper() if inferred else None
    except Exception:  # noqa: BLE001 - sqlglot cannot type every expression; then the literals are timestamps
        kind = None
    for node in parsed.find_all(exp.Column):  # quoted with the output's spelling
        name = _column_named(node.name, column_types) or node.name
        node.set("this", exp.to_identifier(name, quoted=True))
    return parsed, ("TIMESTAMP_NTZ" if kind == "TIMESTAMPNTZ" else kind)


def has_expressions(parts: Sequence[PartitionSlice], column_types: Mapping[str, str]) -> bool:
    """Whether some partition is given by an expression (checked by the warehouse, not on Arrow)."""
    return any(_column_named(part.expr, column_types) is None for part in parts)


def check(who: str, parts: Sequence[PartitionSlice], column_types: Mapping[str, str]) -> None:
    """Refuse, before anything is written, a partition_expr that names a column the output lacks, does not
    parse, reads a subquery or calls a non-deterministic function."""
    names = sorted(column_types)
    for part in parts:
        if _column_named(part.expr, column_types) is not None:
            continue
        try:
            parsed = _parse(part.expr)
        except ParseError:
            raise ValueError(
                f"{who}: partition_expr {part.expr!r} does not parse as Databricks SQL. Give a column of the output "
                f'({names}) or an expression over them, e.g. "CAST(ts AS DATE)".'
            ) from None
        if isinstance(parsed, exp.Column) and not parsed.table:
            raise ValueError(
                f"{who}: partition_expr names column {part.expr!r}, which the output does not have. "
                f"partition_expr must be one of the output's columns ({names}) or an expression over them."
            )
        problem = None
        if parsed.find(exp.Query, exp.Subquery):
            problem = "reads a subquery"
        elif parsed.find(*_NONDETERMINISTIC) or any(
            f.name.lower() in _NONDETERMINISTIC_NAMES for f in parsed.find_all(exp.Anonymous)
        ):
            problem = "calls a non-deterministic function"
        else:
            missing = sorted(
                {c.name for c in parsed.find_all(exp.Column) if _column_named(c.name, column_types) is None}
            )
            if missing:
                problem = f"reads column(s) {missing}, which the output does not have"
        if problem:
            raise ValueError(
                f"{who}: partition_expr {part.expr!r} {problem}. It must be a deterministic expression over the "
                f'output\'s columns ({names}), e.g. "CAST(ts AS DATE)".'
            )


def guard(
    reader: pa.RecordBatchReader, parts: Sequence[PartitionSlice], who: str, column_types: Mapping[str, str]
) -> pa.RecordBatchReader:
    """The stream, raising before the load if any row lies outside the partition being written. A partition
    given by a column is checked here on Arrow; one given by an expression is checked by the warehouse
    (REPLACE WHERE refuses such rows; MERGE runs the same check first)."""
    columns = [(part, _column_named(part.expr, column_types)) for part in parts]
    checked = [(part, column) for part, column in columns if column is not None]

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            for part, column in checked:
                _check_batch(batch, part, column, who)
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _check_batch(batch: pa.RecordBatch, part: PartitionSlice, column: str, who: str) -> None:
    values = batch.column(batch.schema.get_field_index(column))
    dtype = values.type
    if part.is_window and (pa.types.is_timestamp(dtype) or pa.types.is_date(dtype)):
        assert part.start is not None and part.end is not None  # a window has both ends (see _slice)
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
            f"{who}: {count} row(s) have {part.expr!r} outside the partition being written "
            f"(expected {expected}, found e.g. {example!r}). Filter the output to the run's partition; "
            "REPLACE WHERE would refuse them."
        )
