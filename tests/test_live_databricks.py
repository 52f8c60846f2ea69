"""The end-to-end suite against a real Databricks SQL warehouse (`pytest -m databricks`).

Runs when DATABRICKS_SERVER_HOSTNAME, DATABRICKS_HTTP_PATH and DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID and
DATABRICKS_CLIENT_SECRET) are set. Tables go to a fresh schema in DATABRICKS_CATALOG (default `main`) that is
dropped afterwards; staging goes to DATABRICKS_STAGING_URL (default a Volume in that schema).
"""

import datetime as dt
import os
import uuid

import dagster as dg
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from dagster import AssetExecutionContext

from dagster_dbload import DatabricksIOManager, DatabricksResource

NEEDED = ("DATABRICKS_SERVER_HOSTNAME", "DATABRICKS_HTTP_PATH")
HAVE_AUTH = bool(os.environ.get("DATABRICKS_TOKEN")) or bool(
    os.environ.get("DATABRICKS_CLIENT_ID") and os.environ.get("DATABRICKS_CLIENT_SECRET")
)
MISSING = [name for name in NEEDED if not os.environ.get(name)] + ([] if HAVE_AUTH else ["DATABRICKS_TOKEN"])

pytestmark = [
    pytest.mark.databricks,
    pytest.mark.skipif(bool(MISSING), reason=f"live Databricks suite: set {', '.join(MISSING)} to run it"),
]


@pytest.fixture(scope="module")
def live():
    catalog = os.environ.get("DATABRICKS_CATALOG", "main")
    schema = f"dbload_test_{uuid.uuid4().hex[:8]}"
    resource = DatabricksResource(
        server_hostname=os.environ["DATABRICKS_SERVER_HOSTNAME"],
        http_path=os.environ["DATABRICKS_HTTP_PATH"],
        access_token=os.environ.get("DATABRICKS_TOKEN") or None,
        client_id=None if os.environ.get("DATABRICKS_TOKEN") else os.environ.get("DATABRICKS_CLIENT_ID"),
        client_secret=None if os.environ.get("DATABRICKS_TOKEN") else os.environ.get("DATABRICKS_CLIENT_SECRET"),
        catalog=catalog,
        schema=schema,
    )
    with resource.connect() as connection:
        connection.cursor().execute(f"CREATE SCHEMA IF NOT EXISTS `{catalog}`.`{schema}`")
    staging = os.environ.get("DATABRICKS_STAGING_URL", f"/Volumes/{catalog}/{schema}/staging/runs")
    io_manager = DatabricksIOManager(
        warehouse=resource,
        catalog=catalog,
        schema=schema,
        staging_url=staging,
        create_volume=staging.startswith("/Volumes/"),
    )
    yield resource, io_manager
    with resource.connect() as connection:
        connection.cursor().execute(f"DROP SCHEMA IF EXISTS `{catalog}`.`{schema}` CASCADE")


def _query(resource, statement):
    with resource.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(statement)
        return cursor.fetchall_arrow()


def test_every_write_mode_and_input_type(live):
    resource, io_manager = live
    base = pa.table(
        {
            "id": [1, 2, 3],
            "v": ["a", "b", "c"],
            "at": pa.array([dt.datetime(2024, 1, 1)] * 3, pa.timestamp("us", "UTC")),
        }
    )

    @dg.asset
    def from_arrow() -> pa.Table:
        return base

    @dg.asset(metadata={"write_mode": "append"})
    def from_pandas() -> pd.DataFrame:
        return base.to_pandas()

    @dg.asset(metadata={"write_mode": "merge", "primary_key": ["id"]})
    def from_polars() -> pl.LazyFrame:
        return pl.from_arrow(base).lazy()

    @dg.asset
    def reader(from_arrow: pa.Table, from_pandas: pd.DataFrame, from_polars: pl.DataFrame) -> pa.Table:
        assert from_arrow.num_rows == len(from_pandas) == from_polars.height == 3
        return from_arrow

    for _ in range(2):
        assert dg.materialize(
            [from_arrow, from_pandas, from_polars, reader], resources={"io_manager": io_manager}
        ).success
    counts = {
        t: _query(resource, f"SELECT count(*) AS n FROM {t}").column(0)[0].as_py()
        for t in ("from_arrow", "from_pandas", "from_polars")
    }
    assert counts == {"from_arrow": 3, "from_pandas": 6, "from_polars": 3}


def test_partitions_and_evolution(live):
    resource, io_manager = live
    daily = dg.DailyPartitionsDefinition(start_date="2024-03-09", timezone="America/Los_Angeles")
    extra = {"on": False}

    @dg.asset(partitions_def=daily, metadata={"partition_expr": "at"})
    def events(context: AssetExecutionContext) -> pa.Table:
        start = context.partition_time_window.start
        table = pa.table({"at": pa.array([start, start + dt.timedelta(hours=5)], pa.timestamp("us", "UTC"))})
        return table.append_column("extra", pa.array(["x", "y"])) if extra["on"] else table

    for day in ("2024-03-09", "2024-03-10"):
        assert dg.materialize([events], partition_key=day, resources={"io_manager": io_manager}).success
    extra["on"] = True
    assert dg.materialize([events], partition_key="2024-03-10", resources={"io_manager": io_manager}).success
    rows = _query(resource, "SELECT count(*) AS n, count(extra) AS e FROM events").to_pylist()
    assert rows == [{"n": 4, "e": 2}]
