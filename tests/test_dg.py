"""Dagster's `dg` CLI on this repository's example project ([tool.dg] in pyproject.toml) and on a new project
that scaffolds our component, as Dagster's docs teach: `dg list defs`, `dg check defs`, `dg scaffold defs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DG = Path(sys.executable).with_name("dg")


DEFINITIONS = """from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""

# the resources the component reads and writes through, in defs/ as Dagster's docs place them
RESOURCES = """import dagster as dg

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from dagster_dbload.superannotate import LocalSuperAnnotateExport


@dg.definitions
def resources() -> dg.Definitions:
    warehouse = LocalSQLWarehouse(path="{folder}/warehouse.duckdb")
    export = LocalSuperAnnotateExport(path="{folder}/export", project="qa-review")
    return dg.Definitions(resources={{"io_manager": DatabricksIOManager(warehouse=warehouse), "superannotate": export}})
"""


def dg(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    venv = {"VIRTUAL_ENV": str(Path(sys.executable).parent.parent), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(DG), *args], cwd=cwd, env={**os.environ, **venv, **(env or {})}, capture_output=True, text=True
    )


def test_dg_lists_and_checks_the_example_project():
    listed = dg("list", "defs", "--json", cwd=ROOT)
    assert listed.returncode == 0, listed.stderr[-3000:]
    defs = json.loads(listed.stdout)
    keys = {a["asset_key"] for a in defs["assets"]}
    assert {"shop/orders", "shop/customers", "analytics/customer_revenue", "annotations/qa_review"} <= keys
    assert "annotations__qa_review_sensor" in {s["name"] for s in defs["sensors"]}
    checked = dg("check", "defs", cwd=ROOT)
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "All definitions loaded successfully." in checked.stdout + checked.stderr


def test_dg_scaffolds_our_component_into_a_new_project(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "annotations_project"\n'
        'registry_modules = ["dagster_dbload"]\n'
    )
    (tmp_path / "annotations_project" / "defs").mkdir(parents=True)
    (tmp_path / "annotations_project" / "__init__.py").write_text("")
    (tmp_path / "annotations_project" / "defs" / "__init__.py").write_text("")
    (tmp_path / "annotations_project" / "definitions.py").write_text(DEFINITIONS)  # what `dg scaffold project` writes
    (tmp_path / "annotations_project" / "defs" / "resources.py").write_text(RESOURCES.format(folder=tmp_path))
    env = {"PYTHONPATH": str(tmp_path)}
    components = dg("list", "components", "--json", cwd=tmp_path, env=env)
    assert components.returncode == 0, components.stderr[-3000:]
    assert "dagster_dbload.SuperAnnotateToDatabricks" in {c["key"] for c in json.loads(components.stdout)["items"]}
    scaffolded = dg("scaffold", "defs", "dagster_dbload.SuperAnnotateToDatabricks", "qa_items", cwd=tmp_path, env=env)
    assert scaffolded.returncode == 0, scaffolded.stderr[-3000:]
    assert (tmp_path / "annotations_project" / "defs" / "qa_items" / "defs.yaml").exists()
    checked = dg("check", "defs", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stderr[-3000:]
    listed = json.loads(dg("list", "defs", "--json", cwd=tmp_path, env=env).stdout)
    assert [a["asset_key"] for a in listed["assets"]] == ["superannotate/qa_items"]
    assert [s["name"] for s in listed["sensors"]] == ["superannotate__qa_items_sensor"]
