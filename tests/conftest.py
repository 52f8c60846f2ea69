"""Shared fixtures: a fresh local warehouse per test and a folder of staged parquet files."""

from __future__ import annotations

import importlib.util
import os

import pytest

from dagster_dbload import LocalSQLWarehouse


def pytest_configure(config: pytest.Config) -> None:
    # parse the example's dbt project once, before workers start (where dbt is installed: not in .venv-latest)
    if not os.environ.get("PYTEST_XDIST_WORKER") and importlib.util.find_spec("dagster_dbt") is not None:
        import example_project.dbt_models  # noqa: F401


@pytest.fixture
def warehouse(tmp_path) -> LocalSQLWarehouse:
    return LocalSQLWarehouse(path=str(tmp_path / "wh" / "warehouse.duckdb"))


@pytest.fixture
def cursor(warehouse):
    with warehouse.connect() as connection:
        yield connection.cursor()


@pytest.fixture(scope="session")
def s3_options():
    from backends import moto_s3

    with moto_s3() as options:
        yield options


@pytest.fixture(scope="session")
def azure_options():
    from backends import azurite

    with azurite() as options:
        yield options


@pytest.fixture(params=["local", "server", "s3", "azure", "volume"])
def backend(request, tmp_path):
    """The IO manager suites run against each of these."""
    from backends import backend as make

    s3 = request.getfixturevalue("s3_options") if request.param == "s3" else None
    azure = request.getfixturevalue("azure_options") if request.param == "azure" else None
    with make(request.param, tmp_path, s3, azure) as value:
        yield value


@pytest.fixture
def io_manager(backend):
    """A DatabricksIOManager staging where the backend's warehouse reads."""
    return backend.io_manager()
