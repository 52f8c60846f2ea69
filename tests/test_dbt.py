"""dbt-databricks, unmodified, against LocalSQLWarehouseServer: scripts/dbt_e2e.py builds tests/dbt_jaffle twice
with changed seed data in between and checks what each incremental strategy and the snapshot left."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import dbt_e2e  # noqa: E402


def test_a_dbt_project_builds_twice_and_keeps_its_history(capsys):
    assert dbt_e2e.main() == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert out.count("ok   ") == 7 and "FAIL" not in out
