"""dbt-databricks, unmodified, against LocalSQLWarehouseServer: scripts/dbt_e2e.py builds tests/dbt_jaffle twice
with changed seed data in between and checks what each incremental strategy and the snapshot left."""

import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "dbt_e2e.py"


@pytest.mark.background([sys.executable, str(SCRIPT)])
def test_a_dbt_project_builds_twice_and_keeps_its_history(background_result):
    out = background_result.stdout
    assert background_result.returncode == 0, out[-6000:]
    assert out.count("ok   ") == 7 and "FAIL" not in out, out
