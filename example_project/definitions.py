"""The example code location: the shop assets stored by DatabricksIOManager in the local warehouse."""

from pathlib import Path

import dagster as dg

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse

from . import assets

PROJECT_DIR = Path(__file__).resolve().parent.parent
warehouse = LocalSQLWarehouse(path=str(PROJECT_DIR / ".dbload" / "warehouse.duckdb"))

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    resources={"io_manager": DatabricksIOManager(warehouse=warehouse)},
)
