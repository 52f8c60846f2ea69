"""An output made ready to stage: Arrow stream, Databricks columns and the write spec, checked against the
settings before the warehouse is asked anything; then, once the table is known, the stream typed as the plan
stages it, with its partition and key guards."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from . import arrow, loader, partitions
from .keys import KeyCollector
from .naming import column_problem
from .request import KEYED_MODES, WriteRequest
from .sql import ColumnSpec
from .types import arrow_to_databricks


@dataclass
class Output:
    """The output as it will be written (before the table is consulted)."""

    reader: pa.RecordBatchReader
    schema: pa.Schema  # the Databricks-safe Arrow schema
    columns: list[ColumnSpec]
    spec: loader.WriteSpec
    mapped: list[str]  # column names that need Delta column mapping
    untyped: frozenset[str]  # all-null columns without a declared type


def prepare(request: WriteRequest, obj: Any) -> Output:
    """The output as a typed stream and its columns; names, types and settings that cannot work raise here."""
    settings, who = request.settings, request.who
    declared = settings.declared
    keys = {k.lower() for k in settings.primary_key}  # NOT NULL, as a PRIMARY KEY constraint needs
    reader = arrow.to_reader(obj, who=who, declared=settings.declared_types)
    schema = arrow.databricks_schema(reader.schema, settings.declared_types, who)
    columns = []
    for f in schema:
        column = declared.get(f.name.lower())
        nullable = (column is None or column.nullable) and f.name.lower() not in keys
        comment = column.description if column is not None else None
        columns.append(ColumnSpec(f.name, arrow_to_databricks(f.type, f.name), comment, nullable))
    partitions.check(who, request.partitions, {c.name: c.type for c in columns})
    mapped = [c.name for c in columns if column_problem(c.name)]
    spec = write_spec(request, column_mapping=settings.column_mapping or bool(mapped))
    loader.validate(who, spec, columns)
    if spec.hard_delete:  # staged for the MERGE, not a table column
        marker = next(c for c in columns if c.name.lower() == spec.hard_delete.lower())
        if marker.type.upper() != "BOOLEAN":
            raise ValueError(
                f"{who}: hard_delete column {marker.name!r} is {marker.type}; it must be BOOLEAN (true deletes "
                "the row with the same primary_key). Cast it, or name a boolean column."
            )
        spec = dataclasses.replace(spec, hard_delete=marker.name)
        columns = [c for c in columns if c is not marker]
    untyped = {
        f.name for f in reader.schema if pa.types.is_null(f.type) and f.name.lower() not in settings.declared_types
    }
    return Output(reader, schema, columns, spec, mapped, frozenset(untyped))


def write_spec(request: WriteRequest, column_mapping: bool) -> loader.WriteSpec:
    s = request.settings
    return loader.WriteSpec(
        mode=s.mode,
        schema_evolution=s.schema_evolution,
        partition_by=s.partition_by,
        cluster_by=s.cluster_by,
        comment=request.comment,
        primary_key=s.primary_key,
        dedupe_by=s.dedupe_by,
        version_by=s.version_by,
        delete_missing=s.delete_missing,
        hard_delete=s.hard_delete,
        partitions=request.partitions,
        scd2=s.scd2,
        scd2_close_missing=s.scd2_close_missing,
        valid_at=request.valid_at,
        create_table=s.create_table,
        column_mapping=column_mapping,
        defer_empty_columns=s.defer_empty_columns,
        change_data_feed=s.change_data_feed,
    )


def staged_stream(output: Output, plan: loader.Plan, who: str) -> tuple[pa.RecordBatchReader, KeyCollector | None]:
    """The stream as the plan stages it (columns typed as the table, deferred ones left out), raising on rows
    outside the partition; with the collector that checks merge keys once the stream is read."""
    reader, schema = output.reader, output.schema
    if plan.dropped:
        reader, schema = arrow.without(reader, plan.dropped), arrow.without_fields(schema, plan.dropped)
    before = {c.name: c for c in output.columns}
    retyped = {c.name: c.type for c in plan.columns if c != before[c.name]}  # all-null, BIGINT into DOUBLE, ...
    reader = arrow.cast_reader(reader, arrow.with_types(schema, retyped))
    spec = output.spec
    if spec.partitions:
        reader = partitions.guard(reader, spec.partitions, who, {c.name: c.type for c in plan.columns})
    collector = KeyCollector(reader, spec.primary_key, who) if spec.mode in KEYED_MODES else None
    return (collector.reader() if collector else reader), collector
