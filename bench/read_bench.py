"""Read benchmark: a downstream asset reads a table of 10,000, 2M and 5M rows x 8 columns, against DuckDB's own
fetch.

    python bench/read_bench.py [--rows N,M,...] [--runs K] [--loaded]

Setup (not timed) loads the table; seconds cover the read only: for DuckDB, `con.sql(...).to_arrow_table()` /
`.df()` of `SELECT *`; for IO managers their `load_input` for a downstream asset (after one untimed call:
imports, first connection); `io_manager_arrow_materialize` times a whole downstream materialization for scale.
Each case runs in a fresh process.
"""

import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from load_bench import table  # noqa: E402

CASES = [
    "duckdb_fetch_arrow", "io_manager_arrow", "io_manager_polars", "io_manager_arrow_2_columns",
    "io_manager_arrow_server", "io_manager_arrow_materialize", "duckdb_df", "io_manager_pandas",
    "io_manager_pandas_server", "dagster_duckdb_pandas",
]  # fmt: skip


def _duckdb(rows: int, work: str):
    import duckdb

    con = duckdb.connect(os.path.join(work, "floor.duckdb"))
    data = table(rows)
    con.register("data", data)
    con.execute("CREATE TABLE t AS SELECT * FROM data")
    con.unregister("data")
    con.close()  # a downstream step opens the file afresh: nothing of the table cached in DuckDB's buffers
    return duckdb.connect(os.path.join(work, "floor.duckdb"))


def case_duckdb_fetch_arrow(rows: int, work: str) -> Callable[[], None]:
    con = _duckdb(rows, work)
    return lambda: con.sql("SELECT * FROM t").to_arrow_table()


def case_duckdb_df(rows: int, work: str) -> Callable[[], None]:
    con = _duckdb(rows, work)
    return lambda: con.sql("SELECT * FROM t").df()


def _input_context(kind: type, columns: list[str] | None = None, resource_config: dict | None = None):
    """What Dagster hands an IO manager's load_input for a downstream asset reading `bench_table`."""
    import dagster as dg
    from dagster._core.types.dagster_type import resolve_dagster_type

    upstream = dg.build_output_context(asset_key=dg.AssetKey(["bench_table"]), definition_metadata={})
    return dg.build_input_context(
        asset_key=dg.AssetKey(["bench_table"]), upstream_output=upstream, dagster_type=resolve_dagster_type(kind),
        definition_metadata={"columns": columns} if columns else {}, resource_config=resource_config,
    )  # fmt: skip


def _io_manager(rows: int, work: str, kind: type, columns: list[str] | None = None, server: bool = False,
                materialize: bool = False):  # fmt: skip
    """Times DatabricksIOManager.load_input (or, with `materialize`, a whole downstream materialization)."""
    import dagster as dg

    from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
    from dagster_dbload.testing import LocalSQLWarehouseServer

    path = os.path.join(work, "wh", "w.duckdb")
    data = {"t": table(rows)}

    @dg.asset
    def bench_table():
        return data["t"]

    @dg.asset(ins={"bench_table": dg.AssetIn(metadata={"columns": columns} if columns else {})})
    def reader(bench_table: kind) -> None:  # type: ignore[valid-type]
        assert len(bench_table) == rows

    embedded = DatabricksIOManager(warehouse=LocalSQLWarehouse(path=path))
    assert dg.materialize([bench_table], resources={"io_manager": embedded}).success
    data.clear()  # only the table in the warehouse remains
    running = LocalSQLWarehouseServer(path=path).__enter__() if server else None
    io_manager = DatabricksIOManager(warehouse=running.resource()) if running else embedded
    if materialize:
        return lambda: dg.materialize([bench_table, reader], resources={"io_manager": io_manager}, selection=[reader])
    context = _input_context(kind, columns)
    io_manager.load_input(context)  # warm: imports and the first connection, not timed
    return lambda: io_manager.load_input(context)


def case_io_manager_arrow_materialize(rows: int, work: str) -> Callable[[], None]:
    """A whole downstream materialization (Dagster's run around load_input), for scale."""
    import pyarrow as pa

    return _io_manager(rows, work, pa.Table, materialize=True)


def case_io_manager_arrow(rows: int, work: str) -> Callable[[], None]:
    import pyarrow as pa

    return _io_manager(rows, work, pa.Table)


def case_io_manager_arrow_2_columns(rows: int, work: str) -> Callable[[], None]:
    """AssetIn metadata columns=["id", "price"]: only those columns are read."""
    import pyarrow as pa

    return _io_manager(rows, work, pa.Table, columns=["id", "price"])


def case_io_manager_arrow_server(rows: int, work: str) -> Callable[[], None]:
    import pyarrow as pa

    return _io_manager(rows, work, pa.Table, server=True)


def case_io_manager_pandas(rows: int, work: str) -> Callable[[], None]:
    import pandas as pd

    return _io_manager(rows, work, pd.DataFrame)


def case_io_manager_pandas_server(rows: int, work: str) -> Callable[[], None]:
    import pandas as pd

    return _io_manager(rows, work, pd.DataFrame, server=True)


def case_io_manager_polars(rows: int, work: str) -> Callable[[], None]:
    import polars as pl

    return _io_manager(rows, work, pl.DataFrame)


def case_dagster_duckdb_pandas(rows: int, work: str) -> Callable[[], None]:
    """dagster-duckdb-pandas' load_input."""
    import dagster as dg
    import pandas as pd
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    frame = {"t": table(rows).to_pandas()}
    factory = DuckDBPandasIOManager(database=os.path.join(work, "dd.duckdb"), schema="bench")

    @dg.asset
    def bench_table():
        return frame["t"]

    assert dg.materialize([bench_table], resources={"io_manager": factory}).success
    frame.clear()
    io_manager = factory.create_io_manager(dg.build_init_resource_context())
    config = {"database": factory.database, "schema": "bench", "connection_config": {}, "read_only": False}
    context = _input_context(pd.DataFrame, resource_config=config)
    io_manager.load_input(context)  # warm, not timed
    return lambda: io_manager.load_input(context)


if __name__ == "__main__":
    harness.main(
        __file__,
        harness.cases(globals()),
        CASES,
        floor="duckdb_fetch_arrow",
        title="a downstream asset reads {rows} rows x 8 columns, median of {runs} runs (fresh process each)",
        sizes="10000,2000000,5000000",
    )
