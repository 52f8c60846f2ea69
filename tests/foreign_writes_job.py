"""A partitioned asset materialized by `python foreign_writes_job.py <partition>` in its own process, on the
instance in DAGSTER_HOME and the warehouse the environment names: concurrent runs of partitions, for the
foreign-writes guard."""

import os
import sys

import dagster as dg
import pyarrow as pa
from backends import server_resource_from_env

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse

PARTS = dg.StaticPartitionsDefinition(["a", "b", "c"])


@dg.asset(partitions_def=PARTS, metadata={"partition_expr": "part"})
def sharded(context: dg.AssetExecutionContext) -> pa.Table:
    return pa.table({"part": [context.partition_key] * 5, "id": pa.array(range(5), pa.int64())})


def io_manager() -> DatabricksIOManager:
    if os.environ.get("DBLOAD_TEST_WAREHOUSE"):
        warehouse = LocalSQLWarehouse(path=os.environ["DBLOAD_TEST_WAREHOUSE"])
    else:
        warehouse = server_resource_from_env("DBLOAD_TEST", retry_duration_seconds=10.0)
    return DatabricksIOManager(warehouse=warehouse, staging_url=os.environ["DBLOAD_TEST_STAGING_URL"])


if __name__ == "__main__":
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([sharded], resources={"io_manager": io_manager()}, instance=instance,
                                partition_key=sys.argv[1], raise_on_error=False)  # fmt: skip
    sys.exit(0 if result.success else 1)
