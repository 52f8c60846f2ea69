"""Arrow is the common currency: frames in as record batch streams, tables out as the requested type.

pandas and polars are optional thin adapters; nothing here imports them unless the object is one of theirs.
"""

from __future__ import annotations

import collections.abc
import os
import sys
import typing
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from .types import arrow_to_databricks, parse_type

BATCH_ROWS = 128 * 1024


def to_reader(
    obj: Any, batch_rows: int = BATCH_ROWS, who: str = "The output", declared: Mapping[str, str] | None = None
) -> pa.RecordBatchReader:
    """A record batch stream over a pyarrow Table/RecordBatchReader, pandas DataFrame or polars (Lazy)Frame.

    `declared` Databricks types (lower-cased column name -> type) convert pandas object columns."""
    if isinstance(obj, pa.RecordBatchReader):
        return obj
    if isinstance(obj, pa.Table):
        return pa.RecordBatchReader.from_batches(obj.schema, obj.to_batches(max_chunksize=batch_rows))
    if isinstance(obj, pa.RecordBatch):
        return pa.RecordBatchReader.from_batches(obj.schema, [obj])
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, pd.DataFrame):
        return _from_pandas(obj, batch_rows, who, {k.lower(): v for k, v in (declared or {}).items()})
    pl = sys.modules.get("polars")
    if pl is not None and isinstance(obj, pl.LazyFrame):
        return _from_polars_lazy(obj, batch_rows)
    if pl is not None and isinstance(obj, pl.DataFrame):
        return to_reader(obj.to_arrow(), batch_rows)
    raise TypeError(
        f"DatabricksIOManager cannot store a {type(obj).__module__}.{type(obj).__qualname__}: return a pyarrow "
        "Table or RecordBatchReader, a pandas DataFrame, or a polars DataFrame or LazyFrame."
    )


_PANDAS_ERRORS = (pa.ArrowTypeError, pa.ArrowInvalid, OverflowError)


def _from_pandas(df: Any, batch_rows: int, who: str, declared: Mapping[str, str]) -> pa.RecordBatchReader:
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    typed = {str(c): databricks_to_arrow(declared[str(c).lower()]) for c in df.columns if str(c).lower() in declared}
    try:
        if typed and any(df[c].dtype == object for c in typed):  # e.g. Python ints beyond int64 as DECIMAL(38,0)
            arrays = [_pandas_column(df[c], typed.get(str(c))) for c in df.columns]
            table = pa.Table.from_arrays(arrays, names=[str(c) for c in df.columns])
        else:
            table = pa.Table.from_pandas(df, preserve_index=False)
    except _PANDAS_ERRORS as e:
        column = next((c for c in df.columns if _pandas_column_fails(df[c], typed.get(str(c)))), None)
        where = f" in column {column!r}" if column is not None else ""
        fix = "Give the column one type (e.g. df[col].astype(str)) before returning it."
        if isinstance(e, OverflowError) or "too large" in str(e) or "out of bounds" in str(e):
            fix = (
                "It holds integers beyond 64 bits: declare the column DECIMAL(38,0) in dagster/column_schema "
                "(dg.TableColumn(name, 'DECIMAL(38,0)')), or convert it to strings (df[col].astype(str))."
            )
        raise TypeError(f"{who}: cannot convert the pandas DataFrame to Arrow{where}: {e}. {fix}") from None
    return to_reader(table.replace_schema_metadata(None), batch_rows)


def _pandas_column(series: Any, dtype: pa.DataType | None) -> pa.Array:
    if dtype is None:
        return pa.Table.from_pandas(series.to_frame(), preserve_index=False).column(0).combine_chunks()
    return pa.array(series, type=dtype, from_pandas=True)


def _pandas_column_fails(series: Any, dtype: pa.DataType | None) -> bool:
    try:
        _pandas_column(series, dtype)
    except _PANDAS_ERRORS:
        return True
    return False


def _from_polars_lazy(frame: Any, batch_rows: int) -> pa.RecordBatchReader:
    schema = frame.head(0).collect().to_arrow().schema

    def batches() -> Iterator[pa.RecordBatch]:
        for chunk in frame.collect_batches(chunk_size=batch_rows):
            yield from chunk.to_arrow().cast(schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


_FRAMES = ("pyarrow.RecordBatch", "pyarrow.Table", "pandas.DataFrame", "polars.DataFrame")


def streams(target_type: Any) -> bool:
    """Whether an input of this type is read as a stream: pyarrow.RecordBatchReader, polars.LazyFrame, or an
    iterator of RecordBatches, Tables or pandas / polars DataFrames."""
    if target_type is pa.RecordBatchReader or _name(target_type) == "polars.LazyFrame":
        return True
    return _iterated(target_type) is not None


def from_stream(reader: pa.RecordBatchReader, target_type: Any, spill_dir: str) -> Any:
    """The stream as `target_type`. A LazyFrame scans a parquet file the stream is first written to, under
    `spill_dir` (it may be collected more than once); everything else reads the stream as it is consumed."""
    if target_type is pa.RecordBatchReader:
        return reader
    if _name(target_type) == "polars.LazyFrame":
        import polars as pl
        import pyarrow.parquet as pq

        path = os.path.join(spill_dir, f"{uuid.uuid4().hex}.parquet")
        with pq.ParquetWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
        return pl.scan_parquet(path)
    frame = _iterated(target_type)
    if frame is None:
        raise TypeError(f"{target_type!r} is not a stream type (see `streams`).")
    return (_as_frame(batch, frame) for batch in reader)


def _as_frame(batch: pa.RecordBatch, frame: str) -> Any:
    if frame == "pyarrow.RecordBatch":
        return batch
    table = pa.Table.from_batches([batch])
    if frame == "pyarrow.Table":
        return table
    return from_table(table, sys.modules[frame.split(".")[0]].DataFrame)


def _name(target_type: Any) -> str:
    return f"{getattr(target_type, '__module__', '').split('.')[0]}.{getattr(target_type, '__name__', '')}"


def _iterated(target_type: Any) -> str | None:
    """The frame type of `Iterator[frame]` / `Iterable[frame]` / `Generator[frame, ...]`, else None."""
    origin = typing.get_origin(target_type)
    if origin not in (collections.abc.Iterator, collections.abc.Iterable, collections.abc.Generator):
        return None
    args = typing.get_args(target_type)
    return _name(args[0]) if args and _name(args[0]) in _FRAMES else None


def from_table(table: pa.Table, target_type: Any) -> Any:
    """The Arrow table as `target_type` (pyarrow Table when the input is unannotated)."""
    if target_type in (None, Any, pa.Table, object):
        return table
    if target_type is pa.RecordBatchReader:
        return table.to_reader()
    module = getattr(target_type, "__module__", "").split(".")[0]
    name = getattr(target_type, "__name__", "")
    if module == "pandas" and name == "DataFrame":
        return table.to_pandas(deduplicate_objects=False)
    if module == "polars" and name in ("DataFrame", "LazyFrame"):
        import polars as pl

        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)  # a Table gives a DataFrame (a Series only from an Array)
        return frame.lazy() if name == "LazyFrame" else frame
    raise TypeError(
        f"DatabricksIOManager cannot load a table as {target_type!r}: annotate the input as pyarrow.Table, "
        "pyarrow.RecordBatchReader, pandas.DataFrame, polars.DataFrame or polars.LazyFrame."
    )


def databricks_schema(
    schema: pa.Schema, declared: Mapping[str, str] | None = None, who: str = "The output"
) -> pa.Schema:
    """The Arrow schema staged for Databricks; no columns, unnamed or case-duplicate columns and unsupported
    types raise before any write.

    Timestamps become microseconds (tz-aware -> UTC), unsigned ints widen, dictionaries decode, and
    all-null columns take their declared Databricks type (from `dagster/column_schema`), else STRING.
    """
    if not len(schema):
        raise ValueError(
            f"{who} has no columns: a Delta table needs at least one. Return a frame with the columns to store."
        )
    declared = {k.lower(): v for k, v in (declared or {}).items()}
    seen: dict[str, str] = {}
    fields = []
    for field in schema:
        if not field.name:
            raise ValueError(f"{who} has a column without a name: name every column.")
        if field.name.lower() in seen:
            raise ValueError(
                f"Columns {seen[field.name.lower()]!r} and {field.name!r} differ only in case; Databricks column "
                "names are case-insensitive. Rename one of them."
            )
        seen[field.name.lower()] = field.name
        if pa.types.is_null(field.type):
            dtype = databricks_to_arrow(declared.get(field.name.lower(), "STRING"))
        else:
            dtype = _safe(field.type, field.name)
        fields.append(pa.field(field.name, dtype, nullable=True))
    return pa.schema(fields)


def _safe(dtype: pa.DataType, column: str) -> pa.DataType:
    arrow_to_databricks(dtype, column)  # raises for unsupported types, naming the column
    t = pa.types
    if t.is_timestamp(dtype):
        return pa.timestamp("us", "UTC" if dtype.tz is not None else None)
    if t.is_dictionary(dtype):
        return _safe(dtype.value_type, column)
    if t.is_unsigned_integer(dtype):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}.get(dtype.bit_width, pa.decimal128(20, 0))
    if t.is_float16(dtype):
        return pa.float32()
    if t.is_date64(dtype):
        return pa.date32()
    if t.is_string_view(dtype):
        return pa.string()
    if t.is_binary_view(dtype) or t.is_fixed_size_binary(dtype):
        return pa.binary()
    if t.is_null(dtype):
        return pa.string()
    if t.is_map(dtype):
        return pa.map_(_safe(dtype.key_type, column), _safe(dtype.item_type, column))
    if t.is_large_list(dtype):
        return pa.large_list(_safe(dtype.value_type, column))
    if t.is_list(dtype) or t.is_fixed_size_list(dtype) or t.is_list_view(dtype) or t.is_large_list_view(dtype):
        return pa.list_(_safe(dtype.value_type, column))
    if t.is_struct(dtype):
        return pa.struct([pa.field(f.name, _safe(f.type, f"{column}.{f.name}")) for f in dtype])
    return dtype


def cast_reader(reader: pa.RecordBatchReader, schema: pa.Schema) -> pa.RecordBatchReader:
    """The stream cast batch by batch to `schema` (no-op when it already matches)."""
    if reader.schema.equals(schema):
        return reader

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield batch.cast(schema, safe=False)

    return pa.RecordBatchReader.from_batches(schema, batches())


def without_fields(schema: pa.Schema, names: Sequence[str]) -> pa.Schema:
    return pa.schema([f for f in schema if f.name not in names])


def without(reader: pa.RecordBatchReader, names: Sequence[str]) -> pa.RecordBatchReader:
    """The stream without the columns `names`."""
    keep = [n for n in reader.schema.names if n not in names]

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield batch.select(keep)

    return pa.RecordBatchReader.from_batches(without_fields(reader.schema, names), batches())


def with_types(schema: pa.Schema, types: Mapping[str, str]) -> pa.Schema:
    """`schema` with each field set to the Arrow type of its Databricks type in `types`."""
    return pa.schema([pa.field(f.name, databricks_to_arrow(types[f.name])) if f.name in types else f for f in schema])


_ARROW_OF = {
    "BOOLEAN": pa.bool_(), "TINYINT": pa.int8(), "SMALLINT": pa.int16(), "INT": pa.int32(),
    "BIGINT": pa.int64(), "FLOAT": pa.float32(), "DOUBLE": pa.float64(), "TEXT": pa.string(),
    "VARCHAR": pa.string(), "CHAR": pa.string(), "BINARY": pa.binary(), "DATE": pa.date32(),
    "TIMESTAMPTZ": pa.timestamp("us", "UTC"), "TIMESTAMP": pa.timestamp("us", "UTC"),
    "TIMESTAMPNTZ": pa.timestamp("us"), "NULL": pa.string(),
}  # fmt: skip


TYPE_NAMES = "BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, STRING, BINARY, DATE, TIMESTAMP, TIMESTAMP_NTZ"


def databricks_to_arrow(type_sql: str) -> pa.DataType:
    """Arrow type of a Databricks SQL type, as Databricks returns it."""
    try:
        dtype = parse_type(type_sql)
    except Exception:  # noqa: BLE001 - sqlglot raises several error types for unparsable types
        raise ValueError(f"{type_sql!r} is not a Databricks SQL type (e.g. STRING, BIGINT, DECIMAL(10,2)).") from None
    return _arrow_of(dtype)


def _arrow_of(dtype: Any) -> pa.DataType:
    from sqlglot import exp

    kind = dtype.this.name if isinstance(dtype.this, exp.DataType.Type) else str(dtype.this)
    if kind in _ARROW_OF:
        return _ARROW_OF[kind]
    if kind == "DECIMAL":
        precision, scale = (int(p.name) for p in dtype.expressions)
        return pa.decimal128(precision, scale)
    if kind == "ARRAY":
        return pa.list_(_arrow_of(dtype.expressions[0]))
    if kind == "MAP":
        return pa.map_(_arrow_of(dtype.expressions[0]), _arrow_of(dtype.expressions[1]))
    if kind == "STRUCT":
        return pa.struct([pa.field(f.name, _arrow_of(f.args["kind"])) for f in dtype.expressions])
    raise ValueError(f"The Databricks type {dtype.sql('databricks')} has no Arrow mapping here; use another type.")
