"""Load benchmark: the same 5M-row, 8-column Arrow table through DatabricksIOManager and its peers.

    python bench/load_bench.py [--rows N] [--runs K]

Each case runs in a fresh process; the table is generated before timing starts. Seconds cover the load
only (for Dagster cases, the whole `materialize` call). Peak MiB is the highest RSS during the load minus
the RSS just before it, sampled every 5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import psutil
import pyarrow as pa

CASES = ["floor", "io_manager", "io_manager_reader", "dlt", "dagster_duckdb_pandas"]
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


class PeakRSS:
    """Samples this process's RSS in a thread; `peak` is the maximum above the level at start."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.base = self.process.memory_info().rss
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss - self.base)
            time.sleep(0.005)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


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


def _io_manager_case(rows: int, work: str, make: Callable[[], object]) -> Callable[[], None]:
    import dagster as dg

    from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse

    obj = make()
    io_manager = DatabricksIOManager(warehouse=LocalSQLWarehouse(path=os.path.join(work, "wh", "w.duckdb")))

    @dg.asset
    def bench_table():
        return obj

    def run() -> None:
        assert dg.materialize([bench_table], resources={"io_manager": io_manager}).success

    return run


def case_io_manager(rows: int, work: str) -> Callable[[], None]:
    return _io_manager_case(rows, work, lambda: table(rows))


def case_io_manager_reader(rows: int, work: str) -> Callable[[], None]:
    data = table(rows)  # generated before timing; the reader hands out its batches one at a time
    return _io_manager_case(rows, work, lambda: data.to_reader())


def case_dlt(rows: int, work: str) -> Callable[[], None]:
    import dlt

    os.environ["DLT_DATA_DIR"] = os.path.join(work, "dlt_data")
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    data = table(rows)

    def run() -> None:
        pipeline = dlt.pipeline(
            pipeline_name="bench",
            destination=dlt.destinations.duckdb(os.path.join(work, "dlt.duckdb")),
            dataset_name="bench",
            pipelines_dir=os.path.join(work, "dlt_pipelines"),
        )
        pipeline.run(dlt.resource(data, name="bench_table"), write_disposition="replace")

    return run


def case_dagster_duckdb_pandas(rows: int, work: str) -> Callable[[], None]:
    import dagster as dg
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    frame = table(rows).to_pandas()
    io_manager = DuckDBPandasIOManager(database=os.path.join(work, "dd.duckdb"), schema="bench")

    @dg.asset
    def bench_table():
        return frame

    def run() -> None:
        assert dg.materialize([bench_table], resources={"io_manager": io_manager}).success

    return run


def run_case(name: str, rows: int) -> dict:
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as work:
        run = globals()[f"case_{name}"](rows, work)
        rss = PeakRSS()
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        return {"case": name, "seconds": seconds, "peak_mib": rss.stop()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args.rows)))
        return
    results: dict[str, list[dict]] = {}
    for _ in range(args.runs):
        for name in args.cases.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--one", name, "--rows", str(args.rows)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            results.setdefault(name, []).append(json.loads(out.strip().splitlines()[-1]))
    floor = statistics.median(r["seconds"] for r in results["floor"]) if "floor" in results else None
    print(f"\n{args.rows:,} rows, 8 columns, median of {args.runs} runs (fresh process each)\n")
    print("| case | seconds | rows/s | peak MiB | x floor |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_mib"] for r in runs)
        ratio = f"{seconds / floor:.2f}" if floor else "-"
        print(f"| {name} | {seconds:.2f} | {args.rows / seconds:,.0f} | {peak:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
