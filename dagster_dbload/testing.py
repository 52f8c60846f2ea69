"""Test helpers for users: the local warehouse behind the real databricks-sql-connector protocol, and the
`databricks_warehouse` pytest fixture (registered through the `pytest11` entry point)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .local.server import HTTP_PATH, LocalSQLWarehouseServer

__all__ = ["DatabricksWarehouseEndpoint", "LocalSQLWarehouseServer"]


@dataclass
class DatabricksWarehouseEndpoint:
    """A running LocalSQLWarehouseServer and the ways clients reach it: `connect_kwargs` for
    `databricks.sql.connect`, `sqlalchemy_url` + `sqlalchemy_connect_args` for databricks-sqlalchemy,
    `resource()` for Dagster, `dlt_credentials` for dlt's `databricks` destination."""

    server: LocalSQLWarehouseServer
    catalog: str = "main"
    schema: str = "default"

    @property
    def _endpoint(self) -> dict[str, Any]:
        return {"server_hostname": "127.0.0.1", "http_path": HTTP_PATH, "access_token": self.server.access_token}

    @property
    def connect_kwargs(self) -> dict[str, Any]:
        return {**self._endpoint, **self.sqlalchemy_connect_args}

    @contextlib.contextmanager
    def connect(self, **overrides: Any) -> Iterator[Any]:
        """A databricks-sql-connector connection to the server."""
        from databricks import sql

        with sql.connect(**{**self.connect_kwargs, **overrides}) as connection:
            yield connection

    @property
    def sqlalchemy_url(self) -> str:
        return (
            f"databricks://token:{self.server.access_token}@127.0.0.1?http_path={HTTP_PATH}"
            f"&catalog={self.catalog}&schema={self.schema}"
        )

    @property
    def sqlalchemy_connect_args(self) -> dict[str, Any]:
        return {"_connection_uri": self.server.url + HTTP_PATH, "enable_telemetry": False}

    @property
    def dlt_credentials(self) -> dict[str, Any]:
        return {**self._endpoint, "catalog": self.catalog, "connection_parameters": self.sqlalchemy_connect_args}

    def dbt_target(self, schema: str | None = None, threads: int = 1) -> dict[str, Any]:
        """A dbt-databricks target (a profiles.yml `outputs` entry) that reaches the server."""
        return self.server.dbt_target(self.catalog, schema or self.schema, threads)

    def resource(self, **overrides: Any):
        """A DatabricksResource (for DatabricksIOManager) that reaches the server through the connector."""
        return self.server.resource(**overrides)
