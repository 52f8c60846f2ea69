"""Land Dagster asset outputs in Databricks Delta tables."""

from .io_manager import DatabricksIOManager, DatabricksLoadError
from .local import LocalSQLError, LocalSQLWarehouse
from .warehouse import SQLWarehouse

__version__ = "0.1.0"

__all__ = [
    "DatabricksIOManager",
    "DatabricksLoadError",
    "LocalSQLError",
    "LocalSQLWarehouse",
    "SQLWarehouse",
    "__version__",
]
