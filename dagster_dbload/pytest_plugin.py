"""pytest plugin (entry point `pytest11`): the `databricks_warehouse` fixture, an offline Databricks SQL
warehouse that any client of databricks-sql-connector reaches over its real protocol."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import DatabricksWarehouseEndpoint, LocalSQLWarehouseServer


@pytest.fixture
def databricks_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabricksWarehouseEndpoint]:
    """A fresh LocalSQLWarehouseServer on 127.0.0.1 for one test, with its connection parameters."""
    root = tmp_path_factory.mktemp("databricks_warehouse")
    with LocalSQLWarehouseServer(path=str(root / "warehouse.duckdb")) as server:
        yield DatabricksWarehouseEndpoint(server)
