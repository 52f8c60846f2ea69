"""Runs dbt-databricks, unmodified, against LocalSQLWarehouseServer: the jaffle-style project in
tests/dbt_jaffle (seeds, staging views, a table mart with persist_docs, merge / append / delete+insert /
replace_where incremental models, a check snapshot, generic tests): `debug`, `seed`, `run`, `snapshot`, `test`,
then after changed seed data `dbt build` (seed, run, snapshot, test again), then `dbt docs generate`; checks the
rows each second run should leave.

    python scripts/dbt_e2e.py

dbt comes with the `dbt` extra (the test extra includes it).
Exit code 0 when every check holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "tests" / "dbt_jaffle"
CHANGED_ORDERS = "id,user_id,order_date,status\n1,1,2024-01-01,placed\n2,3,2024-01-02,completed\n" \
    "3,2,2024-01-03,completed\n4,1,2024-01-04,returned\n5,2,2024-01-05,placed\n"  # fmt: skip


def dbt_executable() -> Path:
    """The dbt command beside this Python (the `dbt` extra's)."""
    dbt = Path(sys.executable).with_name("dbt")
    if not dbt.exists():
        raise SystemExit(f"No dbt beside {sys.executable}: pip install -e '.[dbt]'")
    return dbt


def main() -> int:
    from dagster_dbload.testing import LocalSQLWarehouseServer

    dbt = dbt_executable()
    with tempfile.TemporaryDirectory() as folder, LocalSQLWarehouseServer(path=f"{folder}/wh.duckdb") as server:
        project = Path(folder) / "project"
        shutil.copytree(PROJECT, project)
        target = server.dbt_target("main", "jaffle")
        (project / "profiles.yml").write_text(
            yaml.safe_dump({"dbload_local": {"target": "local", "outputs": {"local": target}}})
        )
        with server.warehouse.connect() as connection:
            connection.cursor().execute("CREATE SCHEMA IF NOT EXISTS main.jaffle")
        env = {**os.environ, "DBT_PROFILES_DIR": str(project), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}

        def run(*args: str) -> None:
            done = subprocess.run([str(dbt), *args], cwd=project, env=env, capture_output=True, text=True)
            print(f"dbt {' '.join(args)}: exit {done.returncode}")
            if done.returncode != 0:
                print(done.stdout[-4000:])
                raise SystemExit(1)

        for command in ("debug", "seed", "run", "snapshot", "test"):  # the first run, one command at a time
            run(command)
        (project / "seeds" / "raw_orders.csv").write_text(CHANGED_ORDERS)
        run("build")  # the second run: incremental models take their incremental path, the snapshot versions
        run("docs", "generate")

        def rows(sql: str) -> list[tuple]:
            with server.warehouse.connect() as connection:
                return [tuple(r) for r in connection.cursor().execute(sql).fetchall()]

        status = "SELECT order_id, status FROM main.jaffle.{} ORDER BY 1"
        everything = [(1, "placed"), (2, "completed"), (3, "completed"), (4, "returned"), (5, "placed")]
        first_then_five = [(1, "placed"), (2, "shipped"), (3, "completed"), (4, "returned"), (5, "placed")]
        checks = {
            "merge updated order 2 and added order 5": rows(status.format("orders_merged")) == everything,
            "delete+insert replaced order 2": rows(status.format("orders_delete_insert")) == everything,
            "append added only order 5": rows(status.format("orders_appended")) == first_then_five,
            "replace_where rewrote orders 4 and 5 only": rows(status.format("orders_replace_where")) == first_then_five,
            "the snapshot closed order 2's old version": rows(
                "SELECT status, dbt_valid_to IS NULL FROM main.jaffle.orders_snapshot WHERE order_id = 2 "
                "ORDER BY dbt_valid_from"
            ) == [("shipped", False), ("completed", True)],
            "the mart kept its persisted docs": rows(
                "SELECT comment FROM main.information_schema.tables WHERE table_name = 'customers'"
            ) == [("One row per customer",)],
            "docs generate wrote a catalog": len(json.loads((project / "target" / "catalog.json").read_text())["nodes"])
            >= 8,
        }  # fmt: skip
        for name, ok in checks.items():
            print(f"{'ok  ' if ok else 'FAIL'} {name}")
        return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
