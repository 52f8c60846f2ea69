"""Test helpers for users: the local warehouse behind the real databricks-sql-connector protocol."""

from .local.server import LocalSQLWarehouseServer

__all__ = ["LocalSQLWarehouseServer"]
