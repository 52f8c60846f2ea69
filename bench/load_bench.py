"""Load benchmark: the same 8-column Arrow table (10,000, 2M and 5M rows) through DatabricksIOManager and its
peers, into a new table.

    python bench/load_bench.py [--rows N,M,...] [--runs K] [--loaded]

Each case runs in a fresh process; the table is generated before timing starts. Seconds cover the load
only (for Dagster cases, the whole `materialize` call). Frameworks load one tiny table first, untimed: their
imports happen once per process (Dagster's first `materialize` in a process costs about 0.6 s more). Peak MiB is the highest RSS during the load minus
the RSS just before it, sampled every 5 ms.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CASES = ["floor", "io_manager", "io_manager_reader", "io_manager_server", "dlt", "dagster_duckdb_pandas"]
# Not in the default set: `--cases io_manager_lazy_reader --rows 20000000` (and `staging_lazy_reader`, staging
# alone) show memory stays flat in rows;
# `--cases io_manager_no_progress,io_manager_progress_every_second` shows what progress logging costs.
BATCH = 250_000


def batches(rows: int) -> Iterator[pa.RecordBatch]:
    """The benchmark data, generated batch by batch (deterministic)."""
    rng = np.random.default_rng(42)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    start = np.datetime64("2024-01-01T00:00:00", "us")
    for offset in range(0, rows, BATCH):
        n = min(BATCH, rows - offset)
        lengths = rng.integers(8, 25, n)
        letters = alphabet[rng.integers(0, 26, int(lengths.sum()))]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        strings = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer("".join(letters).encode()))
        yield pa.record_batch(
            {
                "id": pa.array(np.arange(offset, offset + n), pa.int64()),
                "qty": pa.array(rng.integers(0, 1000, n), pa.int32()),
                "price": rng.random(n) * 100,
                "discount": rng.random(n),
                "sku": strings,
                "ts": pa.array(start + rng.integers(0, 10**13, n).astype("timedelta64[us]"), pa.timestamp("us", "UTC")),
                "day": pa.array(np.datetime64("2024-01-01") + rng.integers(0, 365, n).astype("timedelta64[D]")),
                "flag": rng.random(n) < 0.5,
            }
        )


def table(rows: int) -> pa.Table:
    return pa.Table.from_batches(list(batches(rows)))


def case_floor(rows: int, work: str) -> Callable[[], None]:
    import duckdb
    import pyarrow.parquet as pq

    data = table(rows)

    def run() -> None:
        path = os.path.join(work, "floor.parquet")
        pq.write_table(data, path, compression="snappy")
        con = duckdb.connect(os.path.join(work, "floor.duckdb"))
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{path}') LIMIT 0")
        con.execute(f"INSERT INTO t SELECT * FROM read_parquet('{path}')")
        con.close()

    return run


def _io_manager_case(
    rows: int, work: str, make: Callable[[], object], progress: float = 5.0, server: bool = False, **warehouse_options
) -> Callable[[], None]:
    import dagster as dg

    from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
    from dagster_dbload.testing import LocalSQLWarehouseServer

    obj = make()
    path = os.path.join(work, "wh", "w.duckdb")
    if server:  # the real connector over Thrift; staging in the folder the server reads
        running = LocalSQLWarehouseServer(path=path, **warehouse_options).__enter__()
        warehouse, staging = running.resource(), os.path.join(work, "wh", "staging")
    else:
        warehouse, staging = LocalSQLWarehouse(path=path, **warehouse_options), None
    io_manager = DatabricksIOManager(warehouse=warehouse, staging_url=staging, progress_seconds=progress)

    @dg.asset
    def bench_table():
        return obj

    @dg.asset
    def warm_up():
        return pa.table({"a": [1]})

    assert dg.materialize([warm_up], resources={"io_manager": io_manager}).success  # imports, not timed

    def run() -> None:
        assert dg.materialize([bench_table], resources={"io_manager": io_manager}).success

    return run


def case_io_manager(rows: int, work: str) -> Callable[[], None]:
    return _io_manager_case(rows, work, lambda: table(rows))


def case_io_manager_reader(rows: int, work: str) -> Callable[[], None]:
    data = table(rows)  # generated before timing; the reader hands out its batches one at a time
    return _io_manager_case(rows, work, lambda: data.to_reader())


def case_io_manager_server(rows: int, work: str) -> Callable[[], None]:
    """The Table case through LocalSQLWarehouseServer and the real databricks-sql-connector."""
    return _io_manager_case(rows, work, lambda: table(rows), server=True)


def case_io_manager_lazy_reader(rows: int, work: str) -> Callable[[], None]:
    """A reader whose batches are generated on the fly: nothing is held in memory before the load."""
    schema = next(batches(1)).schema
    return _io_manager_case(rows, work, lambda: pa.RecordBatchReader.from_batches(schema, batches(rows)))


def case_io_manager_lazy_reader_512mb(rows: int, work: str) -> Callable[[], None]:
    """The lazy reader into a warehouse with memory_limit='512MB' (DuckDB caches the blocks it writes)."""
    schema = next(batches(1)).schema
    return _io_manager_case(
        rows, work, lambda: pa.RecordBatchReader.from_batches(schema, batches(rows)), memory_limit="512MB"
    )


def case_io_manager_no_progress(rows: int, work: str) -> Callable[[], None]:
    """The Table case with progress logging off (progress_seconds=0)."""
    return _io_manager_case(rows, work, lambda: table(rows), progress=0)


def case_io_manager_progress_every_second(rows: int, work: str) -> Callable[[], None]:
    """The Table case logging progress every second (the default is every 5 s)."""
    return _io_manager_case(rows, work, lambda: table(rows), progress=1)


def case_staging_lazy_reader(rows: int, work: str) -> Callable[[], None]:
    """Staging alone, from a reader whose batches are generated on the fly (nothing held in memory)."""
    from dagster_dbload.staging import Stager

    schema = next(batches(1)).schema

    def run() -> None:
        reader = pa.RecordBatchReader.from_batches(schema, batches(rows))
        Stager(os.path.join(work, "stage")).write(reader, "lazy")

    return run


def case_dlt(rows: int, work: str) -> Callable[[], None]:
    import dlt

    os.environ["DLT_DATA_DIR"] = os.path.join(work, "dlt_data")
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    data = table(rows)

    def load(name: str, rows: pa.Table) -> None:
        pipeline = dlt.pipeline(
            pipeline_name=name,
            destination=dlt.destinations.duckdb(os.path.join(work, "dlt.duckdb")),
            dataset_name=name,
            pipelines_dir=os.path.join(work, "dlt_pipelines"),
        )
        pipeline.run(dlt.resource(rows, name="bench_table"), write_disposition="replace")

    load("warm_up", pa.table({"a": [1]}))  # imports, not timed
    return lambda: load("bench", data)


def case_dagster_duckdb_pandas(rows: int, work: str) -> Callable[[], None]:
    import dagster as dg
    import pandas as pd
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    frame = table(rows).to_pandas()
    io_manager = DuckDBPandasIOManager(database=os.path.join(work, "dd.duckdb"), schema="bench")

    @dg.asset
    def bench_table():
        return frame

    @dg.asset
    def warm_up():
        return pd.DataFrame({"a": [1]})

    assert dg.materialize([warm_up], resources={"io_manager": io_manager}).success  # imports, not timed

    def run() -> None:
        assert dg.materialize([bench_table], resources={"io_manager": io_manager}).success

    return run


if __name__ == "__main__":
    harness.main(
        __file__,
        harness.cases(globals()),
        CASES,
        floor="floor",
        title="{rows} rows, 8 columns, median of {runs} runs (fresh process each)",
        sizes="10000,2000000,5000000",
    )
