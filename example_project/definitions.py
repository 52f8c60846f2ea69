"""The example code location: shop assets, dbt models over them and a SuperAnnotate flow, stored by
DatabricksIOManager.

With no settings it runs on embedded stand-ins: the local SQL warehouse in `.dbload/` and the bundled
SuperAnnotate export in `superannotate_export/`. Set DATABRICKS_SERVER_HOSTNAME, DATABRICKS_HTTP_PATH,
DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID/SECRET) and DBLOAD_STAGING_URL to use a real workspace, and
SA_TOKEN plus SA_PROJECT to read a real SuperAnnotate project. DBLOAD_WAREHOUSE and DBLOAD_SA_EXPORT move
the embedded warehouse file and export folder.
"""

import os
from pathlib import Path

import dagster as dg

from dagster_dbload import DatabricksIOManager, DatabricksResource, LocalSQLWarehouse, SQLWarehouse, build_table_checks
from dagster_dbload.superannotate import (
    LocalSuperAnnotateExport,
    SuperAnnotateResource,
    SuperAnnotateSource,
)

from . import assets
from .dbt_models import dbt, shop_models, top_customers

PROJECT_DIR = Path(__file__).resolve().parent.parent
EXPORT_DIR = Path(__file__).resolve().parent / "superannotate_export"


def _warehouse() -> SQLWarehouse:
    if os.environ.get("DATABRICKS_SERVER_HOSTNAME") and os.environ.get("DATABRICKS_HTTP_PATH"):
        oauth = bool(os.environ.get("DATABRICKS_CLIENT_ID"))
        return DatabricksResource(
            server_hostname=dg.EnvVar("DATABRICKS_SERVER_HOSTNAME"),
            http_path=dg.EnvVar("DATABRICKS_HTTP_PATH"),
            access_token=None if oauth else dg.EnvVar("DATABRICKS_TOKEN"),
            client_id=dg.EnvVar("DATABRICKS_CLIENT_ID") if oauth else None,
            client_secret=dg.EnvVar("DATABRICKS_CLIENT_SECRET") if oauth else None,
        )
    return LocalSQLWarehouse(path=os.environ.get("DBLOAD_WAREHOUSE", str(PROJECT_DIR / ".dbload" / "warehouse.duckdb")))


def _superannotate() -> SuperAnnotateSource:
    if os.environ.get("SA_TOKEN"):
        return SuperAnnotateResource(token=dg.EnvVar("SA_TOKEN"), project=os.environ.get("SA_PROJECT", "qa-review"))
    return LocalSuperAnnotateExport(path=os.environ.get("DBLOAD_SA_EXPORT", str(EXPORT_DIR)), project="qa-review")


warehouse = _warehouse()


# the SuperAnnotate flow is a component: defs/qa_review/defs.yaml (dagster_dbload.SuperAnnotateToDatabricks)
def _components() -> tuple[list[dg.AssetsDefinition], list[dg.SensorDefinition]]:
    loaded = dg.load_from_defs_folder(project_root=Path(__file__).resolve().parent)
    return list(loaded.assets or []), list(loaded.sensors or [])


component_assets, component_sensors = _components()
qa_review = next(a for a in component_assets if a.key == dg.AssetKey(["annotations", "qa_review"]))
qa_review_sensor = component_sensors[0]
# what the Explore action (superannotate_action.py) launches, with run config {"item_ids": [...]}
qa_review_job = dg.define_asset_job("qa_review_job", selection=[qa_review])

shop_assets = dg.load_assets_from_modules([assets])
defs = dg.Definitions(
    assets=[*shop_assets, shop_models, top_customers, *component_assets],
    # primary_key unique and not null, nullable=False columns without nulls, rows written = rows staged
    asset_checks=build_table_checks([a for a in shop_assets if isinstance(a, dg.AssetsDefinition)]),
    jobs=[qa_review_job],
    sensors=component_sensors,
    # each run's steps in the run's own process: a step process per asset cost each small run seconds of start-up
    executor=dg.in_process_executor,
    resources={
        "io_manager": DatabricksIOManager(warehouse=warehouse, staging_url=os.environ.get("DBLOAD_STAGING_URL")),
        "superannotate": _superannotate(),
        "warehouse": warehouse,  # dbt's target (example_project/dbt_models.py)
        "dbt": dbt,
    },
)
