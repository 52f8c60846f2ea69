"""The example code location loads and materializes into a fresh local warehouse."""

import dagster as dg

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from example_project import assets
from example_project.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_assets_materialize_with_expected_tables(tmp_path):
    warehouse = LocalSQLWarehouse(path=str(tmp_path / "w.duckdb"))
    result = dg.materialize(
        dg.load_assets_from_modules([assets]), resources={"io_manager": DatabricksIOManager(warehouse=warehouse)}
    )
    assert result.success
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT sum(orders) AS n FROM main.shop.daily_summary")
        summarized = cursor.fetchone().n
        cursor.execute("SELECT count(*) AS n FROM main.shop.orders WHERE status <> 'refunded'")
        assert summarized == cursor.fetchone().n > 0
