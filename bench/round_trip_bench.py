"""What a workspace some distance away charges a small load: the same 10,000 rows replaced into an existing table by
DatabricksIOManager and by dlt's Databricks destination, both through LocalSQLWarehouseServer (the real connector,
Volume staging, HTTPS) with `latency_ms` added to every answer; sessions, Thrift calls, other HTTP requests and
seconds counted at the server in one run.

    python bench/round_trip_bench.py [--rows N] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable

import dagster as dg
import pyarrow as pa

from dagster_dbload import DatabricksIOManager
from dagster_dbload.testing import LocalSQLWarehouseServer

VOLUME = "/Volumes/main/default/dbload_staging/runs"


def rows(n: int, shift: int) -> pa.Table:
    return pa.table({"id": list(range(shift, shift + n)), "v": [f"value {i}" for i in range(n)]})


def ours(server: LocalSQLWarehouseServer, n: int) -> Callable[[int], None]:
    """A Dagster run materializing one asset (in-process, as the Materialize button's run does)."""
    io_manager = DatabricksIOManager(warehouse=server.resource(), staging_url=VOLUME, create_volume=True)
    instance = dg.DagsterInstance.ephemeral()

    def load(shift: int) -> None:
        @dg.asset(name="bench_rows")
        def asset() -> pa.Table:
            return rows(n, shift)

        assert dg.materialize([asset], resources={"io_manager": io_manager}, instance=instance).success

    return load


def dlt_load(server: LocalSQLWarehouseServer, n: int) -> Callable[[int], None]:
    """dlt's pipeline.run of the same rows, write_disposition='replace', its default Volume staging."""
    import dlt

    port = int(server.url.rsplit(":", 1)[1])
    os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = server.certificate or ""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    destination = dlt.destinations.databricks(
        credentials={
            "server_hostname": "127.0.0.1", "http_path": "/sql/1.0/warehouses/local", "catalog": "main",
            "access_token": server.access_token, "connection_parameters": {"_port": port, "enable_telemetry": False},
        }
    )  # fmt: skip
    pipeline = dlt.pipeline("round_trip_bench", destination=destination, dataset_name="dlt_bench",
                            pipelines_dir=tempfile.mkdtemp())  # fmt: skip

    def load(shift: int) -> None:
        pipeline.run(rows(n, shift), table_name="bench_rows", write_disposition="replace", loader_file_format="parquet")

    return load


def measure(server: LocalSQLWarehouseServer, load: Callable[[int], None]) -> tuple[dict[str, int], float]:
    load(0)  # the table exists from here on
    server.calls.clear()
    start = time.perf_counter()
    load(1)
    return dict(server.calls), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    lines = [
        f"{args.rows:,} rows replaced into an existing table, {args.latency_ms:g} ms added to every answer:",
        "",
        "| loader | sessions | Thrift calls | other HTTP requests | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, make in (("DatabricksIOManager", ours), ("dlt databricks destination", dlt_load)):
        with (
            tempfile.TemporaryDirectory() as folder,
            LocalSQLWarehouseServer(
                path=os.path.join(folder, "w.duckdb"), tls=True, latency_ms=args.latency_ms
            ) as server,
        ):
            calls, seconds = measure(server, make(server, args.rows))
        thrift = sum(v for k, v in calls.items() if not k.startswith("HTTP "))
        http = sum(v for k, v in calls.items() if k.startswith("HTTP "))
        lines.append(f"| {name} | {calls.get('OpenSession', 0)} | {thrift} | {http} | {seconds:.2f} |")
        print(f"{name}: {dict(sorted(calls.items()))}", file=sys.stderr)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
