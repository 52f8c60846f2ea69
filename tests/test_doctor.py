"""`dagster-dbload doctor` against LocalSQLWarehouseServer (the real connector) and the SuperAnnotate stand-in:
each check says ok or the fix, secrets never show, and the exit code says whether one failed."""

from __future__ import annotations

import os
import subprocess
import sys

import fsspec
import pytest
from backends import S3_SECRET, TOKEN
from superannotate_api import FakeSuperAnnotate, route_sdk_to
from test_superannotate_sdk import TOKEN as SA_TOKEN
from test_superannotate_sdk import item

from dagster_dbload import DatabricksIOManager
from dagster_dbload.cli import main
from dagster_dbload.doctor import Target, run, table
from dagster_dbload.naming import TableRef
from dagster_dbload.superannotate import SuperAnnotateResource
from dagster_dbload.testing import LocalSQLWarehouseServer


@pytest.fixture
def server(tmp_path):
    with LocalSQLWarehouseServer(path=str(tmp_path / "wh" / "warehouse.duckdb"), access_token=TOKEN) as server:
        yield server


def doctor(server, staging_url, sources=(), **resource) -> dict[str, tuple[bool, str]]:
    io_manager = DatabricksIOManager(
        warehouse=server.resource(retry_duration_seconds=2, **resource), staging_url=staging_url
    )
    checks = run(Target(io_manager, [TableRef("main", "sales", "x")], list(sources)))
    printed = table(checks)
    assert TOKEN not in printed and S3_SECRET not in printed
    return {c.name.split(" ")[0]: (c.ok, c.detail) for c in checks}


def test_a_working_setup_passes_every_check(server, tmp_path):
    result = doctor(server, str(tmp_path / "staging"))
    assert [ok for ok, _ in result.values()] == [True, True, True]
    assert "signed in as local" in result["sign-in"][1]
    with server.warehouse.connect() as connection:  # the schema was created, the probe table dropped
        cursor = connection.cursor()
        assert cursor.execute("SHOW TABLES IN main.sales").fetchall() == []
    assert [files for _, _, files in os.walk(tmp_path / "staging") if files] == []  # the probe file was removed


@pytest.mark.parametrize(
    ("settings", "fix"),
    [
        ({"access_token": "dapi-wrong"}, "DATABRICKS_TOKEN"),
        ({"http_path": "/sql/1.0/warehouses/nope"}, "http_path"),
        (
            {"server_hostname": "127.0.0.1", "connection_uri": "http://127.0.0.1:9/sql/1.0/warehouses/local"},
            "server_hostname",
        ),
    ],
)
def test_a_wrong_token_path_or_host_fails_sign_in_with_the_fix(server, tmp_path, settings, fix):
    if "http_path" in settings:
        settings = {**settings, "connection_uri": server.url + settings["http_path"]}
    result = doctor(server, str(tmp_path / "staging"), **settings)
    assert list(result) == ["sign-in"]  # nothing else is tried
    ok, detail = result["sign-in"]
    assert not ok and fix in detail


def test_a_missing_volume_names_the_grant_or_create_volume(server):
    result = doctor(server, "/Volumes/main/sales/missing/runs")
    ok, detail = result["staging"]
    assert not ok and "create the volume" in detail and "create_volume=True" in detail


def test_a_prefix_the_warehouse_cannot_read_is_reported(server, tmp_path, s3_options):
    import boto3

    boto3.client("s3", endpoint_url=s3_options["endpoint_url"], region_name="us-east-1",
                 aws_access_key_id=s3_options["key"], aws_secret_access_key=S3_SECRET).create_bucket(Bucket="doctor")  # fmt: skip
    io_manager = DatabricksIOManager(
        warehouse=server.resource(), staging_url="s3://doctor/stage", staging_storage_options=s3_options
    )  # the server was started without s3 storage options: it cannot read the prefix
    checks = run(Target(io_manager, [], []))
    staging = next(c for c in checks if c.name.startswith("staging"))
    assert not staging.ok and "READ FILES" in staging.detail and S3_SECRET not in table(checks)
    assert fsspec.filesystem("s3", **s3_options).find("doctor") == []  # the probe file was removed


def test_superannotate_token_project_and_statuses(server, tmp_path):
    fake = FakeSuperAnnotate("QA Review", SA_TOKEN).start()
    bad_token = "sa_" + "x" * 40
    fake.add_item(item(1, "root", "Completed", "2024-05-01T10:00:00.000Z", {"c": {"value": 1}}))
    try:
        with route_sdk_to(fake):
            good = SuperAnnotateResource(token=SA_TOKEN, project="QA Review", backoff_seconds=0.01)
            bad = SuperAnnotateResource(token=bad_token, project="QA Review", backoff_seconds=0.01)
            missing = SuperAnnotateResource(token=SA_TOKEN, project="Nope", backoff_seconds=0.01)
            sources = [(good, ["Completed"]), (good, ["Done"]), (bad, ["Completed"]), (missing, ["Completed"])]
            io_manager = DatabricksIOManager(warehouse=server.resource(), staging_url=str(tmp_path / "s"))
            checks = [c for c in run(Target(io_manager, [], sources)) if c.name.startswith("SuperAnnotate")]
    finally:
        fake.stop()
    assert [c.ok for c in checks] == [True, False, False, False]
    assert "Done" in checks[1].detail and "SA_TOKEN" in checks[2].detail
    assert bad_token not in table(checks) and SA_TOKEN not in table(checks)


def test_the_console_script_reads_the_environment_and_exits_non_zero_on_a_failure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DBLOAD_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    assert main(["doctor"]) == 0
    failing = subprocess.run(
        [sys.executable, "-m", "dagster_dbload", "doctor"], capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "", "DATABRICKS_SERVER_HOSTNAME": "127.0.0.1", "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/x",
             "DATABRICKS_TOKEN": "dapi-secret-value", "DBLOAD_DOCTOR_TIMEOUT": "2", "HOME": str(tmp_path)},
        timeout=120,
    )  # fmt: skip
    assert failing.returncode == 1, failing.stderr[-2000:]
    assert "sign-in" in failing.stdout and "FAIL" in failing.stdout and "dapi-secret-value" not in failing.stdout


def test_warehouse_serve_prints_a_dbt_profile_that_reaches_the_server(tmp_path):
    """`dagster-dbload warehouse serve` keeps running, creates dbt's target schema and prints a profiles.yml
    entry whose host and connection parameters the connector (as dbt-databricks passes them) can use."""
    import subprocess
    import sys

    import yaml
    from backends import _free_port
    from databricks import sql as dbsql

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster_dbload", "warehouse", "serve", "--path", str(tmp_path / "w.duckdb"),
         "--port", str(port), "--schema", "analytics"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = []
        while not (lines and lines[-1].strip() == "" and len(lines) > 3):
            lines.append(process.stdout.readline())
        profile = yaml.safe_load("".join(lines[1:]))
        target = profile["dbload_local"]["outputs"]["local"]
        assert target["host"] == f"http://127.0.0.1:{port}" and target["schema"] == "analytics"
        assert target["threads"] == 4  # dbt overlaps its own work between statements
        with dbsql.connect(
            server_hostname="127.0.0.1", http_path=target["http_path"], access_token=target["token"],
            catalog=target["catalog"], schema=target["schema"], **target["connection_parameters"],
        ) as connection:  # fmt: skip
            row = connection.cursor().execute("SELECT current_schema() AS s").fetchone()
        assert row.s == "analytics"
    finally:
        process.terminate()
        process.wait(timeout=30)
