"""Shared fixtures: a fresh local warehouse per test and a folder of staged parquet files."""

from __future__ import annotations

import importlib.util
import os

import pytest

from dagster_dbload import LocalSQLWarehouse


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(SlowFirstScheduling(), "dbload-slow-first")
    # parse the example's dbt project once, before workers start (where dbt is installed: not in .venv-latest)
    if not os.environ.get("PYTEST_XDIST_WORKER") and importlib.util.find_spec("dagster_dbt") is not None:
        import example_project.dbt_models  # noqa: F401


# The files that take a minute or more (dbt, dagster dev, the JVM, seeded soaks) start first, so that no worker is
# left running one of them after the others have finished (xdist's --dist loadfile starts the files with the most
# tests first, which put these single-test files last)
SLOW_FIRST = ["test_dbt_assets.py", "test_browser.py", "test_spark_sql_golden.py", "test_example_project.py",
              "test_dbt.py", "test_soak.py", "test_foreign_writes.py", "test_spark_oracle.py", "test_dg.py",
              "test_incremental.py", "test_large_appends.py", "test_connector_e2e.py"]  # fmt: skip


class SlowFirstScheduling:
    """A plugin (registered where xdist is loaded): --dist loadfile, with SLOW_FIRST's files sent first."""

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: object) -> object:
        if config.getoption("dist") != "loadfile":
            return None
        from xdist.scheduler import LoadFileScheduling

        class SlowFirst(LoadFileScheduling):
            def _assign_work_unit(self, node: object) -> None:
                if not getattr(self, "_slow_first", False):  # once: the queue is built, no file is sent yet

                    def rank(scope: str) -> int:
                        name = scope.rsplit("/", 1)[-1]
                        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

                    self.workqueue = type(self.workqueue)(sorted(self.workqueue.items(), key=lambda kv: rank(kv[0])))
                    self._slow_first = True
                super()._assign_work_unit(node)

        return SlowFirst(config, log)


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
