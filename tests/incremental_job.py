"""A job over the example's incremental assets that execute_job can reconstruct (for re-execution); its warehouse
comes from environment variables, as in second_run_job."""

import dagster as dg
import pyarrow as pa
from backends import server_resource_from_env

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from example_project import assets

SEEN: list[pa.Table] = []  # what order_changes got, run by run (execute_job runs in this process)


@dg.asset(
    key_prefix=["shop"],
    ins={"orders": dg.AssetIn(key_prefix=["shop"], metadata={"changes_since": "last_read"})},
)
def order_changes(orders: pa.Table) -> None:
    SEEN.append(orders)


def _job(warehouse) -> dg.JobDefinition:
    io_manager = DatabricksIOManager(warehouse=warehouse, staging_url=dg.EnvVar("DBLOAD_TEST_STAGING_URL"))
    selected = [order_changes, assets.revenue_changes]
    job = dg.define_asset_job("incremental_job", selection=selected, executor_def=dg.in_process_executor)
    return dg.Definitions(
        assets=[assets.orders, *selected], jobs=[job], resources={"io_manager": io_manager}
    ).resolve_job_def("incremental_job")


def local_job() -> dg.JobDefinition:
    return _job(LocalSQLWarehouse(path=dg.EnvVar("DBLOAD_TEST_WAREHOUSE")))


def server_job() -> dg.JobDefinition:
    return _job(server_resource_from_env("DBLOAD_TEST", retry_duration_seconds=3.0))
