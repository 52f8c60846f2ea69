"""Streamed-input benchmark: peak memory of a downstream asset's input as the table grows from 5M to 20M rows x
8 columns. A stream (pyarrow.RecordBatchReader, read and dropped batch by batch; a polars.LazyFrame, summed)
should stay flat; a pyarrow.Table input, for contrast, holds the whole table.

    python bench/stream_bench.py [--rows N,M,...] [--runs K] [--loaded]

The table is written by a separate process first, so the measured process holds nothing of it. Through the
server, the server runs in its own process too (a Databricks warehouse is not in the step's memory): the
figure is the step's. Seconds and peak MiB cover `load_input` plus reading the input to its end.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CASES = ["stream_reader", "stream_reader_server", "stream_lazyframe", "table", "table_server"]
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WRITE = """
import sys
sys.path.insert(0, {bench!r})
import dagster as dg
from load_bench import batches
import pyarrow as pa
from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse

@dg.asset
def bench_table() -> pa.RecordBatchReader:
    first = batches({rows})
    head = next(first)
    return pa.RecordBatchReader.from_batches(head.schema, [head, *first])

io_manager = DatabricksIOManager(warehouse=LocalSQLWarehouse(path={path!r}))
assert dg.materialize([bench_table], resources={{"io_manager": io_manager}}).success
"""

_SERVE = """
import json, sys
from dagster_dbload.testing import LocalSQLWarehouseServer
with LocalSQLWarehouseServer(path={path!r}) as server:
    r = server.resource()
    print(json.dumps({{"http_path": r.http_path, "access_token": r.access_token, "connection_uri": r.connection_uri}}), flush=True)
    sys.stdin.read()
"""


def _table(rows: int, work: str) -> str:
    path = os.path.join(work, "wh", "w.duckdb")
    code = _WRITE.format(bench=os.path.dirname(os.path.abspath(__file__)), rows=rows, path=path)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=_ROOT, capture_output=True)
    return path


def _case(rows: int, work: str, kind: str, server: bool) -> Callable[[], None]:
    import dagster as dg
    import polars as pl
    import pyarrow as pa
    from dagster._core.types.dagster_type import resolve_dagster_type

    from dagster_dbload import DatabricksIOManager, DatabricksResource, LocalSQLWarehouse

    path = _table(rows, work)
    if server:
        process = subprocess.Popen([sys.executable, "-c", _SERVE.format(path=path)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)  # fmt: skip
        endpoint = json.loads(process.stdout.readline())
        warehouse = DatabricksResource(server_hostname="127.0.0.1", **endpoint)
    else:
        warehouse = LocalSQLWarehouse(path=path)
    io_manager = DatabricksIOManager(warehouse=warehouse)
    target = {"reader": pa.RecordBatchReader, "lazyframe": pl.LazyFrame, "table": pa.Table}[kind]
    upstream = dg.build_output_context(asset_key=dg.AssetKey(["bench_table"]), definition_metadata={})
    context = dg.build_input_context(asset_key=dg.AssetKey(["bench_table"]), upstream_output=upstream,
                                     dagster_type=resolve_dagster_type(target))  # fmt: skip

    def run() -> None:
        value = io_manager.load_input(context)
        if kind == "reader":
            seen = sum(batch.num_rows for batch in value)
        elif kind == "lazyframe":
            seen = value.select(pl.len()).collect().item()
        else:
            seen = value.num_rows
        assert seen == rows

    return run


def case_stream_reader(rows: int, work: str) -> Callable[[], None]:
    return _case(rows, work, "reader", server=False)


def case_stream_reader_server(rows: int, work: str) -> Callable[[], None]:
    return _case(rows, work, "reader", server=True)


def case_stream_lazyframe(rows: int, work: str) -> Callable[[], None]:
    return _case(rows, work, "lazyframe", server=False)


def case_table(rows: int, work: str) -> Callable[[], None]:
    return _case(rows, work, "table", server=False)


def case_table_server(rows: int, work: str) -> Callable[[], None]:
    return _case(rows, work, "table", server=True)


if __name__ == "__main__":
    harness.main(
        __file__, harness.cases(globals()), CASES, "table",
        "Streamed inputs, {rows} rows x 8 columns, medians of {runs} fresh processes", sizes="5000000,20000000",
    )  # fmt: skip
