"""Land Dagster asset outputs in Databricks Delta tables."""

from .local import LocalSQLError, LocalSQLWarehouse

__version__ = "0.1.0"

__all__ = ["LocalSQLError", "LocalSQLWarehouse", "__version__"]
