"""Shared fixtures: a fresh local warehouse per test and a folder of staged parquet files."""

from __future__ import annotations

import pytest

from dagster_dbload import LocalSQLWarehouse


@pytest.fixture
def warehouse(tmp_path) -> LocalSQLWarehouse:
    return LocalSQLWarehouse(path=str(tmp_path / "wh" / "warehouse.duckdb"))


@pytest.fixture
def cursor(warehouse):
    with warehouse.connect() as connection:
        yield connection.cursor()
