"""The example code location loads and materializes into a fresh local warehouse."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from example_project import assets
from example_project.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_assets_materialize_with_expected_tables(tmp_path):
    warehouse = LocalSQLWarehouse(path=str(tmp_path / "w.duckdb"))
    resources = {"io_manager": DatabricksIOManager(warehouse=warehouse)}
    result = dg.materialize([assets.customers, assets.orders, assets.daily_summary], resources=resources)
    assert result.success
    for day in ("2024-06-01", "2024-06-02", "2024-06-01"):  # page views: a SQL-expression partition
        assert dg.materialize([assets.page_views], resources=resources, partition_key=day).success
    for day in ("2024-06-01", "2024-06-02", "2024-06-03", "2024-06-03"):  # scd2: one tier step per day for 50
        assert dg.materialize([assets.customer_tiers], resources=resources, partition_key=day).success
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT count(*) AS versions, count_if(_valid_to IS NULL) AS current, "
            "count_if(tier = 'silver' AND _valid_to IS NULL) AS silver FROM main.shop.customer_tiers"
        )
        assert tuple(cursor.fetchone()) == (600, 500, 100)
        cursor.execute("SELECT sum(orders) AS n FROM main.shop.daily_summary")
        summarized = cursor.fetchone().n
        cursor.execute("SELECT count(*) AS n FROM main.shop.orders WHERE status <> 'refunded'")
        assert summarized == cursor.fetchone().n > 0
        cursor.execute(
            "SELECT CAST(from_unixtime(ts) AS DATE) AS day, count(*) AS n FROM main.web.page_views GROUP BY 1"
        )
        assert sorted((r.day.isoformat(), r.n) for r in cursor.fetchall()) == [
            ("2024-06-01", 1000),
            ("2024-06-02", 1000),
        ]


def test_dagster_definitions_validate_passes():
    repo = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "SA_"))}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_real_services_are_used_when_their_settings_are_set():
    env = {
        **os.environ,
        "DATABRICKS_SERVER_HOSTNAME": "adb-1.azuredatabricks.net",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc",
        "DATABRICKS_TOKEN": "dapi-not-a-real-token",
        "DBLOAD_STAGING_URL": "/Volumes/main/landing/files/dagster",
        "SA_TOKEN": "sa_not_a_real_token_0123456789abcdef",
        "SA_PROJECT": "QA Review",
    }
    code = (
        "from example_project.definitions import defs;"
        "print(type(defs.resources['io_manager'].warehouse).__name__, defs.resources['io_manager'].staging_url,"
        " type(defs.resources['superannotate']).__name__, defs.resources['superannotate'].project)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == [
        "DatabricksResource", "/Volumes/main/landing/files/dagster", "SuperAnnotateResource", "QA", "Review"
    ]  # fmt: skip


def test_every_asset_shows_the_databricks_kind_and_typed_described_columns():
    for key, spec in ((s.key, s) for s in defs.resolve_all_asset_specs()):
        assert "databricks" in spec.kinds, key
        schema = spec.metadata.get("dagster/column_schema")
        assert schema is not None, key
        for column in schema.columns:
            assert column.type not in (None, "", "?") and column.description, (key, column.name)


def test_the_demo_keeps_its_runs_for_the_ui(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DBLOAD_WAREHOUSE": str(tmp_path / "wh" / "w.duckdb")}
    env = {k: v for k, v in env.items() if not k.startswith(("DATABRICKS_", "SA_"))}
    demo = subprocess.run(
        [sys.executable, "-m", "example_project.demo"], env=env, capture_output=True, text=True, timeout=300
    )
    assert demo.returncode == 0, demo.stderr
    # its own story: dbt's summary in one line, not dbt's log
    assert "dbt build: PASS=10 WARN=0 ERROR=0 SKIP=0" in demo.stdout and "Running with dbt" not in demo.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for key in (["shop", "customers"], ["web", "page_views"], ["annotations", "qa_review"]):
            event = instance.get_latest_materialization_event(dg.AssetKey(key))
            assert event is not None, key
    ignored = subprocess.run(["git", "check-ignore", ".dagster_home/x", ".tmp_dagster_home_abc/x"],
                             cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True)  # fmt: skip
    assert ignored.stdout.split() == [".dagster_home/x", ".tmp_dagster_home_abc/x"]
