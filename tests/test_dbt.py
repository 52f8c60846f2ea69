"""dbt-databricks, unmodified, against LocalSQLWarehouseServer: scripts/dbt_e2e.py builds tests/dbt_jaffle twice
with changed seed data in between and checks what each incremental strategy and the snapshot left."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "dbt_e2e.py"


def test_a_dbt_project_builds_twice_and_keeps_its_history():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600)
    out = result.stdout
    assert result.returncode == 0, out[-6000:] + result.stderr[-2000:]
    assert out.count("ok   ") == 7 and "FAIL" not in out, out
