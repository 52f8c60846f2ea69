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


# The files that take a minute or more (dbt, dagster dev, the JVM, seeded soaks) start first, so that with
# --dist loadfile no worker is left running one of them after the others have finished
SLOW_FIRST = ["test_dbt_assets.py", "test_browser.py", "test_example_project.py", "test_dbt.py", "test_soak.py",
              "test_foreign_writes.py", "test_spark_oracle.py", "test_dg.py", "test_incremental.py",
              "test_large_appends.py", "test_connector_e2e.py"]  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order


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
