"""Land Dagster asset outputs in Databricks Delta tables."""

from .checks import build_table_checks
from .io_manager import (
    Batches,
    DatabricksInputError,
    DatabricksIOManager,
    DatabricksLoadError,
    DatabricksOutputError,
    StagingCredentials,
)
from .local import LocalSQLError, LocalSQLWarehouse
from .resource import DatabricksConnectionError, DatabricksResource
from .superannotate.component import SuperAnnotateToDatabricks
from .warehouse import SQLWarehouse

__version__ = "0.1.0"

__all__ = [
    "DatabricksConnectionError",
    "DatabricksIOManager",
    "DatabricksLoadError",
    "DatabricksOutputError",
    "DatabricksInputError",
    "Batches",
    "DatabricksResource",
    "LocalSQLError",
    "LocalSQLWarehouse",
    "SQLWarehouse",
    "StagingCredentials",
    "SuperAnnotateToDatabricks",
    "__version__",
    "build_table_checks",
]
