"""The embedded local SQL warehouse: Databricks SQL on DuckDB."""

from .errors import LocalSQLError
from .warehouse import LocalSQLWarehouse

__all__ = ["LocalSQLError", "LocalSQLWarehouse"]
