"""What a workspace charges a materialization, counted at the wire server the real connector talks to: sessions
(OpenSession), Thrift calls and other HTTP requests, for each write mode, with Volume staging (the default of a
Databricks user without cloud credentials)."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest

from dagster_dbload import DatabricksIOManager
from dagster_dbload.testing import LocalSQLWarehouseServer

VOLUME = "/Volumes/main/default/dbload_staging/runs"


def thrift_calls(calls: dict[str, int]) -> int:
    return sum(n for what, n in calls.items() if not what.startswith("HTTP "))


def table(rows: int, shift: int = 0) -> pa.Table:
    return pa.table({"id": list(range(shift, shift + rows)), "v": [str(i) for i in range(rows)]})


@pytest.mark.parametrize("mode", ["replace", "append", "merge"])
def test_a_load_costs_one_session_and_a_handful_of_calls(tmp_path, mode):
    metadata = {"write_mode": mode, **({"primary_key": ["id"]} if mode == "merge" else {})}
    loads = iter([table(10_000), table(10_000, 5_000), table(10_000, 7_000)])

    @dg.asset(metadata=metadata)
    def events() -> pa.Table:
        return next(loads)

    with LocalSQLWarehouseServer(path=str(tmp_path / "w.duckdb")) as server:
        io_manager = DatabricksIOManager(warehouse=server.resource(), staging_url=VOLUME, create_volume=True)
        instance = dg.DagsterInstance.ephemeral()
        counted = []
        for _ in range(3):
            server.calls.clear()
            assert dg.materialize([events], resources={"io_manager": io_manager}, instance=instance).success
            counted.append(dict(server.calls))
        with server.warehouse.connect() as connection:
            rows = connection.cursor().execute("SELECT count(*) FROM main.default.events").fetchone()[0]
    first, *later = counted
    assert first["OpenSession"] == first["CloseSession"] == 1, first
    assert thrift_calls(first) <= 12, first
    for calls in later:  # the table exists: DESCRIBE, PUT, the load, REMOVE
        assert calls["OpenSession"] == calls["CloseSession"] == 1, calls
        assert thrift_calls(calls) <= 8, calls
        assert calls.get("FetchResults", 0) == calls.get("CloseOperation", 0) == 0, calls  # answered with the execute
        assert calls["HTTP PUT"] == calls["HTTP DELETE"] == 1, calls  # the staged file up, and away after the load
    assert rows == {"replace": 10_000, "append": 30_000, "merge": 17_000}[mode]


def test_a_hundred_assets_in_one_run_share_one_session(tmp_path):
    def make(i: int) -> dg.AssetsDefinition:
        @dg.asset(name=f"a{i:03d}")
        def one() -> pa.Table:
            return table(1_000, i)

        return one

    assets = [make(i) for i in range(100)]
    with LocalSQLWarehouseServer(path=str(tmp_path / "w.duckdb")) as server:
        io_manager = DatabricksIOManager(warehouse=server.resource(), staging_url=VOLUME, create_volume=True)
        instance = dg.DagsterInstance.ephemeral()
        counted = []
        for _ in range(2):  # the tables are new (in an existing schema), then they exist
            server.calls.clear()
            assert dg.materialize(assets, resources={"io_manager": io_manager}, instance=instance).success
            counted.append(dict(server.calls))
    for calls in counted:
        assert calls["OpenSession"] == calls["CloseSession"] == 1, calls
        assert thrift_calls(calls) / 100 <= 6, calls


def test_a_schema_is_created_only_when_create_table_finds_it_missing(tmp_path):
    """A new table in an existing schema costs CREATE TABLE alone (no CREATE SCHEMA, which needs a privilege the
    writer may lack); a missing schema, even one dropped during the run, is created and the table then."""

    @dg.asset(key_prefix=["scratch"])
    def first() -> pa.Table:
        return table(10)

    @dg.asset(key_prefix=["scratch"], deps=[first])
    def second() -> pa.Table:
        with server.warehouse.connect() as connection:
            connection.cursor().execute("DROP SCHEMA main.scratch CASCADE")
        return table(20)

    @dg.asset(deps=[second])
    def third() -> pa.Table:  # main.default exists
        return table(30)

    with LocalSQLWarehouseServer(path=str(tmp_path / "w.duckdb")) as server:
        io_manager = DatabricksIOManager(warehouse=server.resource(), staging_url=VOLUME, create_volume=True)
        assert dg.materialize([first, second, third], resources={"io_manager": io_manager}).success
        ddl = [" ".join(s.split()[:6]) for s in server.statements if s.startswith("CREATE")]
        with server.warehouse.connect() as connection:
            rows = connection.cursor().execute("SELECT count(*) FROM main.scratch.second").fetchone()[0]
    assert rows == 20
    assert ddl == [
        "CREATE VOLUME IF NOT EXISTS `main`.`default`.`dbload_staging`",
        *["CREATE TABLE IF NOT EXISTS `main`.`scratch`.`first`", "CREATE SCHEMA IF NOT EXISTS `main`.`scratch`",
          "CREATE TABLE IF NOT EXISTS `main`.`scratch`.`first`"],
        *["CREATE TABLE IF NOT EXISTS `main`.`scratch`.`second`", "CREATE SCHEMA IF NOT EXISTS `main`.`scratch`",
          "CREATE TABLE IF NOT EXISTS `main`.`scratch`.`second`"],
        "CREATE TABLE IF NOT EXISTS `main`.`default`.`third`",
    ], ddl  # fmt: skip


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_a_first_load_carries_its_row_count_without_counting(tmp_path, mode):
    """A table the load created holds the rows the load's own answer says it inserted: dagster/row_count is there
    (the asset page shows it) and equals count(*), with no statement added to count them."""
    metadata = {"write_mode": mode, **({"primary_key": ["id"]} if mode == "merge" else {})}

    @dg.asset(metadata=metadata)
    def first() -> pa.Table:
        return table(1_234)

    with LocalSQLWarehouseServer(path=str(tmp_path / "w.duckdb")) as server:
        io_manager = DatabricksIOManager(warehouse=server.resource(), staging_url=VOLUME, create_volume=True)
        result = dg.materialize([first], resources={"io_manager": io_manager})
        statements = list(server.statements)
        with server.warehouse.connect() as connection:
            rows = connection.cursor().execute("SELECT count(*) FROM main.default.first").fetchone()[0]
    recorded = result.get_asset_materialization_events()[0].materialization.metadata["dagster/row_count"].value
    assert recorded == rows == 1_234
    assert not [s for s in statements if "count(" in s.lower()], statements
