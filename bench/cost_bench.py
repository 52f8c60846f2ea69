"""What a load costs on Databricks, measured here: bytes staged per row by codec, upload throughput to S3
(moto's server in its own process) through the stager against a plain `s3fs.put` of the same bytes, and
the statements each write mode sends for an existing table.

    python bench/cost_bench.py [--rows N]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import dagster as dg
import fsspec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load_bench import table  # noqa: E402

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse  # noqa: E402
from dagster_dbload.staging import Stager  # noqa: E402


def codecs(data, work: str) -> list[str]:
    lines = ["| codec | bytes per row | staging MB/s (of Arrow bytes) |", "|---|---:|---:|"]
    for codec in ("none", "snappy", "zstd", "none"):  # none twice: the first run warms the page cache
        start = time.perf_counter()  # compressed codecs in the remote layout (memory:// is not local disk)
        where = os.path.join(work, codec) if codec == "none" else f"memory://codec-{codec}"
        staged = Stager(where, compression=codec).write(data.to_reader(), "x")
        seconds = time.perf_counter() - start
        lines.append(f"| {codec} | {staged.bytes / data.num_rows:.1f} | {data.nbytes / seconds / 1e6:,.0f} |")
    return lines


def _moto() -> tuple[subprocess.Popen, dict]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "k", "secret": "s",
               "client_kwargs": {"region_name": "us-east-1"}}  # fmt: skip
    return proc, options


def upload(data, work: str) -> list[str]:
    proc, options = _moto()
    try:
        import boto3

        boto3.client(
            "s3", endpoint_url=options["endpoint_url"], region_name="us-east-1", aws_access_key_id="k",
            aws_secret_access_key="s",
        ).create_bucket(Bucket="bench")  # fmt: skip
        fs = fsspec.filesystem("s3", **options)
        local = Stager("memory://up", compression="zstd", target_file_bytes=16 << 20).write(data.to_reader(), "x")
        memory = fsspec.filesystem("memory")
        os.makedirs(os.path.join(work, "up", "x"))
        for name in local.files:  # the stager's remote parts, on local disk for s3fs.put
            with open(os.path.join(work, "up", "x", name), "wb") as fh:
                fh.write(memory.cat_file(f"/up/x/{name}"))
        memory.rm("/up", recursive=True)
        size = local.bytes
        put, stager, encode = [], [], []
        for i in range(3):  # interleaved
            start = time.perf_counter()
            fs.put(os.path.join(work, "up", "x") + "/", f"bench/put-{i}/", recursive=True)
            put.append(time.perf_counter() - start)
            start = time.perf_counter()
            Stager("s3://bench/stager", options, target_file_bytes=16 << 20).write(data.to_reader(), f"s-{i}")
            stager.append(time.perf_counter() - start)
            start = time.perf_counter()  # the same parts, encoded into memory: no upload
            Stager("memory://enc", compression="zstd", target_file_bytes=16 << 20).write(data.to_reader(), f"e-{i}")
            encode.append(time.perf_counter() - start)
            fsspec.filesystem("memory").rm("/enc", recursive=True)
        p, s, e = (sorted(x)[1] for x in (put, stager, encode))
        upload_share = max(s - e, 1e-9)  # what uploading adds to encoding, overlapped or not
        return [
            "| path | seconds | MiB/s of staged bytes |", "|---|---:|---:|",
            f"| s3fs.put of the staged files (already encoded) | {p:.2f} | {size / p / 2**20:,.0f} |",
            f"| Stager into memory:// (encoding only) | {e:.2f} | {size / e / 2**20:,.0f} |",
            f"| Stager to S3 (encoding + upload, overlapped) | {s:.2f} | {size / s / 2**20:,.0f} |",
            f"| what the upload adds to the stager | {upload_share:.2f} | {size / upload_share / 2**20:,.0f} |",
            f"\n{size / 2**20:,.0f} MiB in {len(local.files)} parts. Upload throughput through the stager (bytes over "
            f"the time uploading adds) is {min(p / upload_share, 9.99):.0%}{'+' if p / upload_share > 9.99 else ''} "
            f"of s3fs.put's; staging to S3 takes {s:.2f} s against {e + p:.2f} s for encoding, then s3fs.put.",
        ]  # fmt: skip
    finally:
        proc.kill()


def statements(work: str) -> list[str]:
    import re

    from dagster_dbload.sql import markdown  # noqa: F401 - the statements come from dbload/sql

    warehouse = LocalSQLWarehouse(path=os.path.join(work, "st", "w.duckdb"))
    lines = ["| write_mode | load statements | bookkeeping reads | total |", "|---|---:|---:|---:|"]
    for mode in ("replace", "append", "merge", "insert_only", "scd2"):

        @dg.asset(name=f"t_{mode}", metadata={"write_mode": mode, "primary_key": ["id"]})
        def asset():
            return table(1000)

        io_manager = DatabricksIOManager(warehouse=warehouse)
        dg.materialize([asset], resources={"io_manager": io_manager})  # creates the table
        meta = dg.materialize([asset], resources={"io_manager": io_manager}).get_asset_materialization_events()[0]
        md = meta.materialization.metadata
        loads = len(re.findall(r"```sql", md["dbload/sql"].value))
        reads = len(md["dbload/bookkeeping_sql"].value)
        lines.append(f"| {mode} | {loads} | {reads} | {loads + reads} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    data = table(args.rows)
    with tempfile.TemporaryDirectory() as work:
        print(
            f"\nBytes staged per row ({args.rows:,} rows x 8 columns, {data.nbytes / args.rows:.1f} Arrow bytes per row)\n"
        )
        print("\n".join(codecs(data, work)))
        print("\nUpload to S3 (moto server on 127.0.0.1, zstd parts of 16 MiB, median of 3)\n")
        print("\n".join(upload(data, work)))
        print("\nStatements per materialization into an existing table\n")
        print("\n".join(statements(work)))


if __name__ == "__main__":
    main()
