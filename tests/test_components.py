"""Dagster components: dagster_dbload.SuperAnnotateToDatabricks (registered for dg, scaffolded, loaded from a defs
folder) and Dagster's own TemplatedSqlComponent running SQL on both warehouses (they are Dagster SQLClients)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from backends import backend as make_backend
from dagster.components.core.component_tree import ComponentTree
from dagster.components.core.package_entry import discover_entry_point_package_objects
from dagster.components.lib.sql_component.sql_component import TemplatedSqlComponent
from dagster.components.testing import create_defs_folder_sandbox
from dagster_shared.serdes.objects import EnvRegistryKey

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse, SuperAnnotateToDatabricks
from dagster_dbload.superannotate import LocalSuperAnnotateExport

EXPORT = Path(__file__).resolve().parent.parent / "example_project" / "superannotate_export"


def test_the_component_type_is_registered_for_dg():
    found = discover_entry_point_package_objects()  # what `dg list components` lists
    assert (
        found[EnvRegistryKey(name="SuperAnnotateToDatabricks", namespace="dagster_dbload")] is SuperAnnotateToDatabricks
    )


def test_scaffolded_defs_yaml_keeps_the_action_names_and_loads_and_runs(tmp_path):
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(component_cls=SuperAnnotateToDatabricks, defs_path="qa_items")
        written = yaml.safe_load((path / "defs.yaml").read_text())
        assert written["type"] == "dagster_dbload.superannotate.component.SuperAnnotateToDatabricks"
        assert {"sa_component_ids", "databricks_columns", "db_catalog", "db_schema", "db_table"} <= set(
            written["attributes"]
        )
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, SuperAnnotateToDatabricks)
            (asset,) = defs.assets
            (sensor,) = defs.sensors
    assert asset.key == dg.AssetKey(["superannotate", "qa_items"]) and sensor.name == "superannotate__qa_items_sensor"
    warehouse = LocalSQLWarehouse(path=str(tmp_path / "wh.duckdb"))
    export = tmp_path / "export"
    shutil.copytree(EXPORT, export)
    result = dg.materialize(
        [asset],
        resources={
            "io_manager": DatabricksIOManager(warehouse=warehouse),
            "superannotate": LocalSuperAnnotateExport(path=str(export), project="qa-review"),
        },
    )
    assert result.success
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) AS n, count(score) AS scored FROM main.superannotate.qa_items")
        n, scored = cursor.fetchone()
        cursor.execute("DESCRIBE TABLE main.superannotate.qa_items")
        types = {r.col_name: r.data_type for r in cursor.fetchall()}
    assert n > 0 and scored > 0 and types["score"] == "bigint"


def test_a_component_with_sensor_null_defines_no_sensor():
    component = SuperAnnotateToDatabricks(sa_component_ids="prompt", db_table="t", sensor=None)
    defs = component.build_defs(None)  # type: ignore[arg-type]
    assert len(list(defs.assets)) == 1 and not defs.sensors


def test_the_example_project_loads_its_superannotate_flow_from_its_defs_folder():
    from example_project import definitions

    spec = yaml.safe_load((Path(definitions.__file__).parent / "defs" / "qa_review" / "defs.yaml").read_text())
    assert spec["type"] == "dagster_dbload.SuperAnnotateToDatabricks"
    assert definitions.qa_review.key == dg.AssetKey(["annotations", "qa_review"])
    assert definitions.qa_review_sensor.name == "annotations__qa_review_sensor"
    repo = definitions.defs.get_repository_def()
    assert repo.has_sensor_def("annotations__qa_review_sensor")


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def test_templated_sql_component_runs_scripts_on_both_warehouses(target):
    component = TemplatedSqlComponent(
        connection=target.warehouse,
        sql_template=(
            "CREATE SCHEMA IF NOT EXISTS {{ schema }};\n"
            "CREATE OR REPLACE TABLE {{ schema }}.daily (day DATE, note STRING); -- a comment; with a semicolon\n"
            "INSERT INTO {{ schema }}.daily VALUES (DATE'2024-01-01', 'a;b'), (DATE'2024-01-02', 'c');"
        ),
        sql_template_vars={"schema": "reports"},
        assets=[dg.AssetSpec("daily_report")],
    )
    defs = component.build_defs(ComponentTree.for_test().load_context)
    result = dg.materialize(list(defs.assets))
    assert result.success
    assert target.query("SELECT day, note FROM reports.daily ORDER BY day")[0]["note"] == "a;b"
    assert len(target.query("SELECT * FROM reports.daily")) == 2
