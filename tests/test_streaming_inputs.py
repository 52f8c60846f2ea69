"""Inputs read as streams: pyarrow.RecordBatchReader, polars.LazyFrame and iterators of frames (Batches(...)) get
the same rows and types as a pyarrow.Table input, in several batches, on both warehouses; the connection is
released once the stream is read, so the step can write right after."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from backends import backend as make_backend

from dagster_dbload import Batches

ROWS = 300_000  # several parquet row groups and Cloud Fetch links


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


@dg.asset
def big() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "at": pa.array(range(ROWS), pa.timestamp("us", "UTC")),
            "price": pa.array(range(ROWS), pa.int32()).cast(pa.decimal128(12, 2)),
            "name": [f"n{i % 97}" for i in range(ROWS)],
        }
    )


def test_streamed_inputs_hold_the_tables_rows_and_types(target):
    seen: dict = {}

    @dg.asset
    def as_table(big: pa.Table) -> None:
        seen["table"] = big

    @dg.asset
    def as_reader(big: pa.RecordBatchReader) -> pa.Table:
        batches = list(big)
        seen["reader"] = (len(batches), pa.Table.from_batches(batches, big.schema))
        return pa.table({"n": [sum(b.num_rows for b in batches)]})  # written on the same warehouse right after

    @dg.asset
    def as_lazy(big: pl.LazyFrame) -> None:
        seen["lazy"] = (big.select(pl.len()).collect().item(), big.filter(pl.col("id") < 10).collect())

    @dg.asset(ins={"big": dg.AssetIn(dagster_type=Batches(pd.DataFrame))})
    def as_pandas(big: Iterator[pd.DataFrame]) -> None:
        seen["pandas"] = list(big)

    @dg.asset(ins={"big": dg.AssetIn(dagster_type=Batches(pl.DataFrame))})
    def as_polars(big: Iterator[pl.DataFrame]) -> None:
        seen["polars"] = list(big)

    readers = [as_table, as_reader, as_lazy, as_pandas, as_polars]
    assert dg.materialize([big, *readers], resources={"io_manager": target.io_manager()}).success
    table = seen["table"].sort_by("id")
    batches, streamed = seen["reader"]
    assert batches > 1 and streamed.schema == table.schema and streamed.sort_by("id").equals(table)
    count, head = seen["lazy"]
    assert count == ROWS and head.to_arrow().equals(pl.from_arrow(table.slice(0, 10)).to_arrow())
    assert len(seen["pandas"]) > 1 and all(len(f) for f in seen["pandas"])
    assert pd.concat(seen["pandas"]).sort_values("id").reset_index(drop=True).equals(table.to_pandas())
    assert pl.concat(seen["polars"]).sort("id").equals(pl.from_arrow(table))
    assert target.query("SELECT n FROM as_reader") == [{"n": ROWS}]


def test_a_streamed_input_of_a_missing_table_names_the_asset_to_materialize(target):
    @dg.asset
    def gone() -> pa.Table:
        return pa.table({"id": [1]})

    @dg.asset
    def reads(gone: pa.RecordBatchReader) -> None: ...

    with pytest.raises(Exception, match="does not exist: materialize Asset 'gone' first"):
        dg.materialize([gone, reads], resources={"io_manager": target.io_manager()}, selection=[reads])


def test_an_incremental_input_can_be_an_iterator_of_frames(target):
    @dg.asset(metadata={"write_mode": "append", "change_data_feed": True})
    def added() -> pa.Table:
        return pa.table({"id": pa.array(range(3), pa.int64())})

    seen: list = []

    @dg.asset(ins={"added": dg.AssetIn(metadata={"changes_since": 0}, dagster_type=Batches(pl.DataFrame))})
    def counted(added: Iterator[pl.DataFrame]) -> None:
        seen.append(pl.concat(list(added)))

    resources = {"io_manager": target.io_manager()}
    assert dg.materialize([added], resources=resources).success
    assert dg.materialize([added, counted], resources=resources).success
    (frame,) = seen
    assert sorted(frame["id"].to_list()) == [0, 0, 1, 1, 2, 2] and set(frame["_change_type"]) == {"insert"}
