"""Jobs that execute_job can reconstruct, for re-execution tests; settings come from environment variables
(Dagster caches a reconstructed job, so they are EnvVars, resolved when a run starts)."""

import os

import dagster as dg
import pyarrow as pa
from backends import FlakyLocalWarehouse, server_resource_from_env

from dagster_dbload import DatabricksIOManager


@dg.asset(metadata={"write_mode": "append"})
def events() -> pa.Table:
    """DBLOAD_TEST_ROWS rows."""
    n = int(os.environ["DBLOAD_TEST_ROWS"])
    return pa.table({"id": pa.array(range(n), pa.int64()), "v": [f"v{i}" for i in range(n)]})


def _job(warehouse) -> dg.JobDefinition:
    io_manager = DatabricksIOManager(
        warehouse=warehouse,
        staging_url=dg.EnvVar("DBLOAD_TEST_STAGING_URL"),
        staging_threads=dg.EnvVar.int("DBLOAD_TEST_THREADS"),
    )
    job = dg.define_asset_job("append_job", selection=[events], executor_def=dg.in_process_executor)
    return dg.Definitions(assets=[events], jobs=[job], resources={"io_manager": io_manager}).resolve_job_def(
        "append_job"
    )


def local_append_job() -> dg.JobDefinition:
    return _job(FlakyLocalWarehouse(path=dg.EnvVar("DBLOAD_TEST_WAREHOUSE")))


def server_append_job() -> dg.JobDefinition:
    """Through the server; the connector resends a statement whose answer was lost, so it gives up soon."""
    return _job(server_resource_from_env("DBLOAD_TEST", retry_duration_seconds=3.0))
