"""dbt models downstream of the shop assets, and a Python asset downstream of a dbt model: one lineage graph.

The dbt project in shop_dbt/ reads the tables DatabricksIOManager loads (its sources shop.orders and
shop.customers) and builds into the `analytics` schema of the same warehouse. DbloadDbtTranslator keys each model
[schema, table], so `analytics/top_customers` loads `analytics.customer_revenue` through the IO manager.
"""

import shutil
import sys
from pathlib import Path

import dagster as dg
import polars as pl
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from dagster_dbload import SQLWarehouse
from dagster_dbload.dbt import DbloadDbtTranslator, dbt_on_warehouse, with_row_counts

shop_dbt = DbtProject(project_dir=Path(__file__).resolve().parent / "shop_dbt")
# the dbt of this Python's environment (the `dbt` extra), also when its bin/ is not on PATH
_beside = Path(sys.executable).with_name("dbt")
dbt = DbtCliResource(
    project_dir=shop_dbt, dbt_executable=str(_beside) if _beside.exists() else shutil.which("dbt") or "dbt"
)


def _manifest_is_stale() -> bool:
    built = shop_dbt.manifest_path.stat().st_mtime if shop_dbt.manifest_path.exists() else 0.0
    written = {"target", "logs", "dbt_packages"}  # what dbt writes, not the project
    files = (p for p in shop_dbt.project_dir.rglob("*") if p.is_file())
    return any(p.stat().st_mtime > built for p in files if p.relative_to(shop_dbt.project_dir).parts[0] not in written)


# parsed when the project changed since the last manifest, rather than in every process `dagster dev` starts (each
# run's worker imports this module too); run `dagster-dbt project prepare-and-package` to build it for deployment
if _manifest_is_stale():
    dbt.cli(["parse", "--quiet"], target_path=shop_dbt.target_path).wait()


@dbt_assets(manifest=shop_dbt.manifest_path, project=shop_dbt, dagster_dbt_translator=DbloadDbtTranslator())
def shop_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: dg.ResourceParam[SQLWarehouse]):
    # dbt on the warehouse the IO manager writes (the local one is served on 127.0.0.1 meanwhile)
    with dbt_on_warehouse(dbt, warehouse, schema="analytics") as dbt_here:
        yield from with_row_counts(dbt_here.cli(["build"], context=context).stream(), context, warehouse)


REVENUE = dg.AssetKey(["analytics", "customer_revenue"])


@dg.asset(
    key_prefix=["analytics"],
    group_name="analytics",
    kinds={"databricks", "polars"},
    description="The 20 customers with the most revenue, from the dbt model customer_revenue.",
    # the mart's columns, as its dbt schema.yml documents them
    metadata={"dagster/column_schema": shop_models.specs_by_key[REVENUE].metadata["dagster/column_schema"]},
    ins={"customer_revenue": dg.AssetIn(REVENUE)},
)
def top_customers(customer_revenue: pl.DataFrame) -> pl.DataFrame:
    return customer_revenue.sort("revenue", "customer_id", descending=[True, False]).head(20)
