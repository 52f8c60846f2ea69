"""Merge benchmark: 10% changed rows (half updates, half inserts) merged into a table of 10,000, 2M and 5M rows,
as an upsert and as scd2 history (changed rows close their version and add a new one; keys absent from the batch
stay).

    python bench/merge_bench.py [--rows N,M,...] [--runs K] [--loaded]

Each case runs in a fresh process; building the table is setup, not timed. Seconds cover the merge
only (for the IO manager, the whole `materialize` call).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from load_bench import table  # noqa: E402

CASES = ["floor_merge", "floor_delete_insert", "io_manager", "dlt", "io_manager_scd2", "dlt_scd2"]


def changes(base: pa.Table, count: int) -> pa.Table:
    """count/2 existing ids with new prices, count/2 new ids."""
    rng = np.random.default_rng(7)
    updates = base.take(pa.array(rng.choice(base.num_rows, count // 2, replace=False)))
    updates = updates.set_column(2, "price", pc.add(updates.column("price"), 1.0))
    inserts = base.slice(0, count - count // 2)
    inserts = inserts.set_column(0, "id", pc.add(inserts.column("id"), base.num_rows))
    return pa.concat_tables([updates, inserts])


def _duckdb_setup(rows: int, work: str):
    import duckdb
    import pyarrow.parquet as pq

    base = table(rows)
    delta = changes(base, rows // 10)
    con = duckdb.connect(os.path.join(work, "floor.duckdb"))
    con.register("base", base)
    con.execute("CREATE TABLE t AS SELECT * FROM base")
    con.unregister("base")
    path = os.path.join(work, "changes.parquet")
    return con, pq, delta, path


def case_floor_merge(rows: int, work: str) -> Callable[[], None]:
    con, pq, delta, path = _duckdb_setup(rows, work)

    def run() -> None:
        pq.write_table(delta, path)
        con.execute(
            f"MERGE INTO t USING read_parquet('{path}') s ON t.id = s.id "
            "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        )
        con.close()

    return run


def case_floor_delete_insert(rows: int, work: str) -> Callable[[], None]:
    con, pq, delta, path = _duckdb_setup(rows, work)

    def run() -> None:
        pq.write_table(delta, path)
        con.execute("BEGIN")
        con.execute(f"DELETE FROM t WHERE id IN (SELECT id FROM read_parquet('{path}'))")
        con.execute(f"INSERT INTO t SELECT * FROM read_parquet('{path}')")
        con.execute("COMMIT")
        con.close()

    return run


def case_io_manager(rows: int, work: str, mode: str = "merge") -> Callable[[], None]:
    import dagster as dg

    from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse

    base = table(rows)
    data = {"t": base}
    io_manager = DatabricksIOManager(warehouse=LocalSQLWarehouse(path=os.path.join(work, "wh", "w.duckdb")))
    extra = {"scd2_close_missing": False} if mode == "scd2" else {}

    @dg.asset(metadata={"write_mode": mode, "primary_key": ["id"], **extra})
    def bench_table():
        return data["t"]

    assert dg.materialize([bench_table], resources={"io_manager": io_manager}).success
    data["t"] = changes(base, rows // 10)

    def run() -> None:
        assert dg.materialize([bench_table], resources={"io_manager": io_manager}).success

    return run


def case_io_manager_scd2(rows: int, work: str) -> Callable[[], None]:
    return case_io_manager(rows, work, "scd2")


def case_dlt(rows: int, work: str, scd2: bool = False) -> Callable[[], None]:
    import dlt

    os.environ["DLT_DATA_DIR"] = os.path.join(work, "dlt_data")
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    base = table(rows)
    pipeline = dlt.pipeline(
        pipeline_name="bench_merge",
        destination=dlt.destinations.duckdb(os.path.join(work, "dlt.duckdb")),
        dataset_name="bench",
        pipelines_dir=os.path.join(work, "dlt_pipelines"),
    )

    # scd2 with a merge_key: only keys in the batch are retired, as the IO manager's scd2_close_missing=False;
    # dlt hashes Arrow rows into _dlt_id for scd2 only with add_dlt_id
    os.environ["NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID"] = "true"
    disposition = {"disposition": "merge", "strategy": "scd2"} if scd2 else "merge"
    keys = {"merge_key": "id"} if scd2 else {"primary_key": "id"}

    def load(data: pa.Table) -> None:
        pipeline.run(dlt.resource(data, name="bench_table", write_disposition=disposition, **keys))

    load(base)
    delta = changes(base, rows // 10)
    return lambda: load(delta)


def case_dlt_scd2(rows: int, work: str) -> Callable[[], None]:
    return case_dlt(rows, work, scd2=True)


if __name__ == "__main__":
    harness.main(
        __file__,
        harness.cases(globals()),
        CASES,
        floor="floor_merge",
        title="merge 10% changed rows (half updates, half inserts) into {rows} rows, median of {runs} runs (fresh process each)",
        sizes="10000,2000000,5000000",
    )
