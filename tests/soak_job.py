"""Reconstructable jobs for the soak (tests/soak.py) and the re-execution tests: one asset job per write mode,
partitioned or not. What varies per run comes from environment variables, resolved when a run starts (Dagster
caches a reconstructed job): the warehouse, the staging URL, the staging threads, and the output (`SOAK_DATA`:
a seed and row count per partition, from which soak.rows makes the same rows in any process)."""

import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # a step process loads this file on its own

import dagster as dg  # noqa: E402
import pyarrow as pa  # noqa: E402
from backends import FlakyLocalWarehouse, server_resource_from_env  # noqa: E402
from soak import PARTITIONS, rows  # noqa: E402

from dagster_dbload import DatabricksIOManager  # noqa: E402

MODES = ("replace", "append", "merge", "insert_only", "scd2")


def _kill_while_staging(table: pa.Table) -> pa.RecordBatchReader:
    """The output as a stream that SIGKILLs this process after its first batch (once: the marker file goes)."""
    marker = Path(os.environ["SOAK_KILL_WHILE_STAGING"])

    def batches():
        for i, batch in enumerate(table.to_batches(max_chunksize=50_000)):
            if i == 1 and marker.exists():
                marker.unlink()
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch

    return pa.RecordBatchReader.from_batches(table.schema, batches())


def _asset(mode: str, partitioned: bool) -> dg.AssetsDefinition:
    keyed = mode in ("merge", "insert_only", "scd2")
    metadata = {"write_mode": mode, **({"primary_key": ["id"]} if keyed else {})}
    if partitioned:
        metadata["partition_expr"] = "part"

    @dg.asset(
        name="soaked",
        metadata=metadata,
        partitions_def=dg.StaticPartitionsDefinition(list(PARTITIONS)) if partitioned else None,
        retry_policy=dg.RetryPolicy(max_retries=3),
    )
    def soaked(context: dg.AssetExecutionContext):
        spec = json.loads(os.environ["SOAK_DATA"])
        key = context.partition_key if partitioned else PARTITIONS[0]
        seed, n = spec[key]
        table = rows(seed, n, key)
        if os.environ.get("SOAK_KILL_WHILE_STAGING") and table.num_rows > 50_000:
            return _kill_while_staging(table)
        return table

    return soaked


def _warehouse(server: bool):
    if server:
        return server_resource_from_env("SOAK", retry_duration_seconds=20.0)
    return FlakyLocalWarehouse(path=dg.EnvVar("SOAK_WAREHOUSE"))


def io_manager(server: bool) -> DatabricksIOManager:
    return DatabricksIOManager(
        warehouse=_warehouse(server),
        staging_url=dg.EnvVar("SOAK_STAGING_URL"),
        staging_threads=dg.EnvVar.int("SOAK_THREADS"),
        target_file_mb=dg.EnvVar.int("SOAK_TARGET_FILE_MB"),
        conflict_retries=4,
    )


def materialize(mode: str, partitioned: bool, partition: str, server: bool) -> dg.ExecuteInProcessResult:
    """One partition in this process on an instance of its own: concurrent partitions run this in threads
    (execute_job on one shared instance is not thread-safe)."""
    return dg.materialize(
        [_asset(mode, partitioned)], resources={"io_manager": io_manager(server)},
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=partition if partitioned else None, raise_on_error=False,
    )  # fmt: skip


def _job(mode: str, partitioned: bool, processes: bool, server: bool):
    """One job per (mode, partitioning, executor, warehouse kind): Dagster caches a reconstructed job, so nothing
    that differs between histories may be decided when it is built."""

    def build() -> dg.JobDefinition:
        asset = _asset(mode, partitioned)
        # spawn: each step process starts afresh with this environment (a forkserver keeps the one it began with)
        spawn = dg.multiprocess_executor.configured({"start_method": {"spawn": {}}})
        executor = spawn if processes else dg.in_process_executor
        job = dg.define_asset_job("soak_job", selection=[asset], executor_def=executor)
        resources = {"io_manager": io_manager(server)}
        return dg.Definitions(assets=[asset], jobs=[job], resources=resources).resolve_job_def("soak_job")

    build.__name__ = build.__qualname__ = job_name(mode, partitioned, processes, server)
    return build


def job_name(mode: str, partitioned: bool, processes: bool = False, server: bool = False) -> str:
    return "_".join([mode, "partitioned" if partitioned else "whole", *(["processes"] if processes else []),
                     *(["server"] if server else [])])  # fmt: skip


for _mode in MODES:
    for _partitioned in (False, True):
        for _processes, _server in ((False, False), (True, False), (False, True)):
            _built = _job(_mode, _partitioned, _processes, _server)
            globals()[_built.__name__] = _built
